--- The language client: its configuration, server->client handlers, start/attach, requests.
local config = require('ollama_agent.config')
local protocol = require('ollama_agent.protocol')

local M = {}

M.name = 'ollama_agent'

local has_011 = vim.fn.has('nvim-0.11') == 1

--- Call a client method the way this Neovim wants it (colon form from 0.11, dot form before).
--- @param client vim.lsp.Client
--- @param method string
local function call(client, method, ...)
  if has_011 then
    return client[method](client, ...)
  end
  return client[method](...)
end

--- The server's commands (see ollama_agent.protocol, where every name is declared).
M.commands = protocol.commands

--- Send a request; returns ok, request_id.
function M.request(client, method, params, handler, bufnr)
  return call(client, 'request', method, params, handler, bufnr)
end

--- Send a request and wait for its answer; returns {err=, result=} or nil, error message.
function M.request_sync(client, method, params, timeout_ms, bufnr)
  return call(client, 'request_sync', method, params, timeout_ms, bufnr)
end

--- `workspace/executeCommand` params for a server command with its one argument object.
--- @param command string one of M.commands
--- @param args table|nil
--- @return table
function M.command_params(command, args)
  return { command = command, arguments = { M.object(args) } }
end

--- Ask the server to run one of its commands; returns ok, request_id.
function M.execute_command(client, command, args, handler, bufnr)
  return M.request(client, 'workspace/executeCommand', M.command_params(command, args), handler, bufnr)
end

--- Send a notification.
function M.notify(client, method, params)
  return call(client, 'notify', method, params)
end

--- Stop a client.
function M.stop(client, force)
  return call(client, 'stop', force)
end

--- JSON-safe table: an empty Lua table must go out as {} (an object), never [].
--- @param t table|nil
--- @return table
function M.object(t)
  if t == nil or vim.tbl_isempty(t) then
    return vim.empty_dict()
  end
  return t
end

--- An `ollamaAgent/saveDocuments` request: write the buffers the server names.
--- @param params {uris: string[]}
--- @return {saved: string[]}
function M.save_documents(params)
  local saved = {}
  for _, uri in ipairs((params and params.uris) or {}) do
    local ok_uri, bufnr = pcall(vim.uri_to_bufnr, uri)
    if ok_uri and vim.api.nvim_buf_is_loaded(bufnr) then
      if vim.bo[bufnr].modified then
        local ok = pcall(vim.api.nvim_buf_call, bufnr, function()
          vim.cmd('silent write')
        end)
        if ok and not vim.bo[bufnr].modified then
          saved[#saved + 1] = uri
        end
      else
        saved[#saved + 1] = uri
      end
    elseif ok_uri then
      -- Not loaded in Neovim: the file on disk is already the only version.
      saved[#saved + 1] = uri
    end
  end
  return { saved = saved }
end

--- Answer a server request later: `ask(reply)` shows the question; `reply(value)` answers it.
--- Server requests are handled inside a coroutine, so the handler yields until the answer.
--- @param ask fun(reply: fun(value: any))
--- @param fallback any the answer when the handler is not in a coroutine
local function answer_later(ask, fallback)
  local co, is_main = coroutine.running()
  if not co or is_main then
    return fallback
  end
  local done = false
  ask(function(value)
    if done then
      return
    end
    done = true
    -- Resume on the next tick: an answer given at once would resume before the yield.
    vim.schedule(function()
      coroutine.resume(co, value)
    end)
  end)
  return coroutine.yield()
end

--- An `ollamaAgent/approveCommand` request: answered in the chat (or with vim.ui.select).
local function approve_command(_, params, ctx)
  return answer_later(function(reply)
    require('ollama_agent.chat').ask_approval(params or {}, ctx, function(decision)
      reply({ decision = decision })
    end)
  end, { decision = 'deny' })
end

--- A `window/showMessageRequest` (command approvals) answered through vim.ui.select.
local function show_message_request(_, params)
  local actions = params.actions or {}
  if #actions == 0 then
    vim.notify(params.message, vim.log.levels.INFO)
    return vim.NIL
  end
  local co, is_main = coroutine.running()
  if not co or is_main then
    local lines = { params.message }
    for i, action in ipairs(actions) do
      lines[#lines + 1] = ('%d. %s'):format(i, action.title)
    end
    return actions[vim.fn.inputlist(lines)] or vim.NIL
  end
  return answer_later(function(reply)
    vim.ui.select(actions, {
      prompt = params.message,
      kind = 'ollama_agent_approval',
      format_item = function(action)
        return action.title
      end,
    }, function(choice)
      reply(choice or vim.NIL)
    end)
  end, vim.NIL)
end

--- A `workspace/applyEdit` applied without echoing the label on every edit (a run sends many).
local function apply_edit(_, params, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local encoding = client and client.offset_encoding or 'utf-16'
  local ok, err = pcall(vim.lsp.util.apply_workspace_edit, params.edit, encoding)
  if ok then
    return { applied = true }
  end
  return { applied = false, failureReason = tostring(err) }
end

--- The handlers for the server's notifications and requests.
--- @return table<string, function>
function M.handlers()
  return {
    [protocol.notifications.transcript] = function(_, params, ctx)
      require('ollama_agent.commands').on_transcript(params, ctx)
    end,
    [protocol.notifications.runFinished] = function(_, params, ctx)
      require('ollama_agent.commands').on_run_finished(params, ctx)
    end,
    [protocol.requests.saveDocuments] = function(_, params)
      return M.save_documents(params)
    end,
    [protocol.requests.approveCommand] = approve_command,
    ['window/showMessageRequest'] = show_message_request,
    ['workspace/applyEdit'] = apply_edit,
  }
end

--- Client capabilities: Neovim's own plus what this plugin implements.
--- @return table
function M.capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.experimental = caps.experimental or {}
  caps.experimental.ollamaAgent = vim.deepcopy(protocol.capabilities)
  caps.workspace = caps.workspace or {}
  caps.workspace.workspaceEdit = caps.workspace.workspaceEdit or {}
  -- Neovim applies documentChanges (versioned edits, create/delete) but does not say so.
  caps.workspace.workspaceEdit.documentChanges = true
  return caps
end

--- Commands of the server that the plugin runs itself so it can track and cancel them (the TODO
--- code action and the spec actions and lenses arrive here; they carry `wait = false`, so their
--- result comes as ollamaAgent/runFinished).
--- @return table<string, function>
function M.client_commands()
  local function run(command, ctx)
    local args = (command.arguments or {})[1] or {}
    require('ollama_agent.commands').execute(command.command, args, {
      client_id = ctx.client_id,
      bufnr = ctx.bufnr,
    })
  end
  return {
    [M.commands.implementTodo] = run,
    [M.commands.runSelection] = run,
    [M.commands.runSpec] = run,
    [M.commands.verifySpec] = run,
  }
end

--- The full client configuration (lsp/ollama_agent.lua hands it to vim.lsp.config).
--- @param root_dir string|nil nil: found per buffer (root markers, else the cwd or the file's folder)
--- @return vim.lsp.ClientConfig
function M.lsp_config(root_dir)
  local settings = M.object(config.server_settings())
  return {
    name = M.name,
    cmd = config.cmd(),
    cmd_env = config.options.cmd_env,
    root_dir = root_dir or function(bufnr, on_dir)
      -- Buffers without a file (scratch, the chat) get no server.
      if M.wants(bufnr) then
        on_dir(M.root_dir(bufnr))
      end
    end,
    filetypes = config.options.filetypes,
    init_options = settings,
    settings = { ollamaAgent = settings },
    capabilities = M.capabilities(),
    handlers = M.handlers(),
    commands = M.client_commands(),
  }
end

--- The project root for a buffer: a root marker above it, else the cwd if the file is below it,
--- else the file's folder.
--- @param bufnr integer
--- @return string
function M.root_dir(bufnr)
  local root = vim.fs.root(bufnr, config.options.root_markers)
  if root then
    return root
  end
  local cwd = vim.fn.getcwd()
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == '' then
    return cwd
  end
  local file = vim.fs.normalize(vim.fn.fnamemodify(name, ':p'))
  if vim.startswith(file, vim.fs.normalize(cwd) .. '/') then
    return cwd
  end
  return vim.fs.dirname(file)
end

--- Whether the plugin should attach to this buffer.
--- @param bufnr integer
--- @return boolean
function M.wants(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= '' then
    return false
  end
  if vim.api.nvim_buf_get_name(bufnr) == '' then
    return false
  end
  local fts = config.options.filetypes
  return fts == nil or vim.tbl_contains(fts, vim.bo[bufnr].filetype)
end

--- The agent's client attached to a buffer, if any.
--- @param bufnr integer|nil
--- @return vim.lsp.Client|nil
function M.get(bufnr)
  return vim.lsp.get_clients({ name = M.name, bufnr = bufnr })[1]
end

--- A buffer number with nil and 0 meaning the current buffer.
--- @param bufnr integer|nil
--- @return integer
function M.buffer(bufnr)
  return (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
end

--- The client to use for a buffer: the one attached to it, else (for a buffer without a file,
--- such as the chat) any running one; nil and what to do when there is none. The plugin never
--- starts the server itself: vim.lsp.enable('ollama_agent') does.
--- @param bufnr integer|nil
--- @return vim.lsp.Client|nil, string|nil
function M.ensure(bufnr)
  bufnr = M.buffer(bufnr)
  local client = M.get(bufnr)
  if client then
    return client
  end
  local is_file = vim.api.nvim_buf_is_valid(bufnr) and vim.bo[bufnr].buftype == ''
    and vim.api.nvim_buf_get_name(bufnr) ~= ''
  if not is_file then
    client = M.get(nil)
    if client then
      return client
    end
  end
  local enabled = vim.lsp.is_enabled and vim.lsp.is_enabled(M.name)
  if not enabled then
    return nil,
      "the server is not enabled: add vim.lsp.enable('ollama_agent') to your config "
        .. '(see :help ollama-agent-setup)'
  end
  if is_file and not M.wants(bufnr) then
    return nil, 'this buffer is not one the agent attaches to (see the filetypes option)'
  end
  return nil,
    'no agent server is attached to this buffer yet; if it does not start, see :LspLog and '
      .. ':checkhealth ollama_agent'
end

--- Call fn(client) once the client finished initializing (requests before that race didOpen);
--- on_timeout instead when the server exits first or has not initialized within 30 s.
--- @param client vim.lsp.Client
--- @param fn fun(client: vim.lsp.Client)
--- @param on_timeout fun()|nil
function M.when_ready(client, fn, on_timeout)
  -- Scheduled: when the client initializes it attaches its buffers one after another, sending each
  -- didOpen, and our request must follow all of them.
  local function ready()
    vim.schedule(function()
      fn(client)
    end)
  end
  local function stopped()
    return client.is_stopped ~= nil and call(client, 'is_stopped')
  end
  if client.initialized then
    ready()
    return
  end
  if stopped() then
    if on_timeout then
      on_timeout()
    end
    return
  end
  -- LspAttach comes once initialize is answered; LspDetach (of a stopped client) when the server
  -- exits before that.
  local autocmds, timer = {}, nil
  local function finish(initialized)
    if not autocmds then
      return
    end
    for _, id in ipairs(autocmds) do
      pcall(vim.api.nvim_del_autocmd, id)
    end
    autocmds = nil
    if not timer:is_closing() then
      timer:close()
    end
    if initialized then
      ready()
    elseif on_timeout then
      on_timeout()
    end
  end
  local function on(event, settle)
    autocmds[#autocmds + 1] = vim.api.nvim_create_autocmd(event, {
      callback = function(ev)
        if ev.data and ev.data.client_id == client.id then
          settle()
        end
      end,
    })
  end
  on('LspAttach', function()
    finish(true)
  end)
  on('LspDetach', function()
    if stopped() then
      finish(false)
    end
  end)
  timer = vim.defer_fn(function()
    finish(false)
  end, 30000)
end

return M
