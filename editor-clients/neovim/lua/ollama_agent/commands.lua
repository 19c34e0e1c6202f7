--- What the user commands do: start runs, track them, cancel, undo, pick a model.
local client_mod = require('ollama_agent.client')
local config = require('ollama_agent.config')
local protocol = require('ollama_agent.protocol')
local transcript = require('ollama_agent.transcript')

local commands = protocol.commands

local M = {}

--- Runs in flight, by `client_id:request_id`: {client_id, request_id, command, run_id?}.
M.pending = {}
--- Runs that answered `running` (started with `wait = false`), by `client_id:run_id`, until their
--- ollamaAgent/runFinished: {client_id, run_id, command}.
M.following = {}
--- runFinished results that came before their run's answer was handled, by `client_id:run_id`.
local unclaimed = {}
--- The result of the last run that ended (or its error), for statuslines and tests.
M.last = nil
--- The model picked with :OllamaAgentModel for this session (overrides the configured one).
M.model = nil
--- What each run was about (the server's label from its `started` event), by runId.
M.labels = {}

local labels = {
  [commands.runSelection] = 'run on selection',
  [commands.runSpec] = 'spec run',
  [commands.implementTodo] = 'TODO',
  [commands.verifySpec] = 'verify',
  [commands.runTask] = 'chat',
  [commands.followUp] = 'follow-up',
}

local function notify(msg, level)
  if config.options.notify then
    vim.notify('Ollama agent: ' .. msg, level or vim.log.levels.INFO)
  end
end

local function error_msg(msg)
  vim.notify('Ollama agent: ' .. msg, vim.log.levels.ERROR)
end

local function fire(pattern, data)
  vim.api.nvim_exec_autocmds('User', { pattern = pattern, modeline = false, data = data })
end

--- Describe a run result in one line.
--- @param result table
--- @return string, integer
local function describe(result)
  local status = result.status or 'unknown'
  local files = result.changedFiles or {}
  local parts = { status }
  if result.turns then
    parts[#parts + 1] = ('%d turn%s'):format(result.turns, result.turns == 1 and '' or 's')
  end
  if #files > 0 then
    parts[#parts + 1] = ('%d file%s changed'):format(#files, #files == 1 and '' or 's')
  end
  local line = table.concat(parts, ', ')
  if result.summary and result.summary ~= '' then
    line = line .. ': ' .. result.summary
  end
  local level = vim.log.levels.INFO
  if status == 'failed' then
    level = vim.log.levels.ERROR
  elseif status ~= 'completed' then
    level = vim.log.levels.WARN
  end
  return line, level
end

--- Report a run's end: a notification, M.last and the User OllamaAgentRunDone event.
--- @param command string|nil nil for a run this plugin did not start
--- @param result table
local function finish(command, result, client_id)
  result = result or {}
  M.last = vim.tbl_extend('force', { command = command }, result)
  if result.runId then
    -- The progress report's end may come later than the result, or not at all (a run that
    -- failed early): the statusline must not keep "turn 2 · 31.5 tok/s" after the run.
    M.progress[tostring(client_id) .. ':ollama-agent-' .. result.runId] = nil
    M.ended[tostring(client_id) .. ':ollama-agent-' .. result.runId] = true
  end
  vim.cmd('redrawstatus!')
  require('ollama_agent.chat').on_result(result)
  require('ollama_agent.changes').on_result(result, client_id)
  local line, level = describe(result)
  notify(line, level)
  fire('OllamaAgentRunDone', M.last)
end

local function is_run_command(command)
  return vim.tbl_contains(protocol.run_commands, command)
end

--- What the chat shows as the user's message for a run started outside it.
local function instruction_of(command, args, bufnr)
  local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ':t')
  if command == commands.runSelection and args.range then
    return ('%s  (%s:%d-%d)'):format(
      args.instruction or '',
      name,
      args.range.start.line + 1,
      args.range['end'].line + 1
    )
  elseif command == commands.implementTodo then
    return ('Implement the TODO on line %d of %s'):format((args.line or 0) + 1, name)
  elseif command == commands.runSpec then
    return 'Run the spec ' .. name
  elseif command == commands.verifySpec then
    return 'Verify the spec ' .. name
  end
  return args.instruction
end

--- Run a server command that starts an agent run. The plugin sends `wait = false`: the answer is
--- `{runId, sessionId, status = 'running'}` at once (the chat then shows the run), and the result
--- follows as ollamaAgent/runFinished (see M.on_run_finished).
--- @param command string
--- @param args table
--- @param opts {bufnr: integer|nil, client_id: integer|nil, chat: boolean|nil, instruction: string|nil}|nil
function M.execute(command, args, opts)
  opts = opts or {}
  local bufnr = client_mod.buffer(opts.bufnr)
  local client, err
  if opts.client_id then
    client = vim.lsp.get_client_by_id(opts.client_id)
  end
  if not client then
    client, err = client_mod.ensure(bufnr)
  end
  if not client then
    error_msg(err or 'no language client')
    return
  end
  args = vim.deepcopy(args)
  if args.model == nil and M.model and command ~= commands.verifySpec and command ~= commands.runSpec then
    args.model = M.model
  end
  if args.wait == nil and is_run_command(command) then
    args.wait = false
  end
  local shown = opts.instruction or instruction_of(command, args, bufnr)
  client_mod.when_ready(client, function(ready)
    local key
    local ok, request_id = client_mod.execute_command(
      ready,
      command,
      args,
      function(rpc_err, result)
        M.pending[key] = nil
        if rpc_err then
          local cancelled = rpc_err.code == -32800
          M.last = { command = command, error = rpc_err, status = cancelled and 'cancelled' or 'failed' }
          if cancelled then
            notify((labels[command] or command) .. ' cancelled', vim.log.levels.WARN)
          else
            error_msg((labels[command] or command) .. ' failed: ' .. tostring(rpc_err.message))
          end
          fire('OllamaAgentRunDone', M.last)
        elseif type(result) == 'table' and result.status == 'running' and result.runId then
          local run_key = ready.id .. ':' .. result.runId
          if type(result.sessionId) == 'string' then
            require('ollama_agent.chat').run_started(result.runId, result.sessionId, {
              client_id = ready.id,
              instruction = shown,
              chat = opts.chat,
              open = config.options.chat.open_on_run,
            })
          end
          local early = unclaimed[run_key]
          if early then
            unclaimed[run_key] = nil
            finish(command, early, ready.id)
          else
            M.following[run_key] = { client_id = ready.id, run_id = result.runId, command = command }
          end
        else
          finish(command, result, ready.id)
        end
      end,
      bufnr
    )
    if not ok or not request_id then
      error_msg('could not send ' .. command .. ' to the server (is it still running? see :LspLog)')
      return
    end
    key = ready.id .. ':' .. request_id
    M.pending[key] = { client_id = ready.id, request_id = request_id, command = command }
  end, function()
    error_msg('the language server did not finish starting; see :LspLog')
  end)
end

--- LSP range from 1-based rows and 0-based byte columns (end exclusive) in the client's encoding.
--- @return table
local function make_range(bufnr, srow, scol, erow, ecol, encoding)
  local function pos(row, col)
    local line = vim.api.nvim_buf_get_lines(bufnr, row - 1, row, false)[1] or ''
    col = math.max(0, math.min(col, #line))
    local character = col
    if col > 0 then
      character = vim.lsp.util.character_offset(bufnr, row - 1, col, encoding)
    end
    return { line = row - 1, character = character }
  end
  return { start = pos(srow, scol), ['end'] = pos(erow, ecol) }
end

local function line_length(bufnr, row)
  return #(vim.api.nvim_buf_get_lines(bufnr, row - 1, row, false)[1] or '')
end

--- The range of the last visual selection of a buffer ('< and '> marks, visualmode()).
--- @param bufnr integer
--- @return table
function M.visual_range(bufnr)
  local s = vim.api.nvim_buf_get_mark(bufnr, '<')
  local e = vim.api.nvim_buf_get_mark(bufnr, '>')
  local mode = vim.fn.visualmode()
  if mode == 'v' then
    local line = vim.api.nvim_buf_get_lines(bufnr, e[1] - 1, e[1], false)[1] or ''
    -- '> marks the first byte of the last character; the range ends after that character.
    local ecol = e[2] + 1
    if e[2] < #line then
      ecol = e[2] + #vim.fn.strcharpart(line:sub(e[2] + 1), 0, 1)
    end
    if vim.o.selection == 'exclusive' then
      ecol = e[2]
    end
    return { srow = s[1], scol = s[2], erow = e[1], ecol = ecol }
  end
  return { srow = s[1], scol = 0, erow = e[1], ecol = line_length(bufnr, e[1]) }
end

local function ask_instruction(instruction, fn)
  if instruction and vim.trim(instruction) ~= '' then
    fn(vim.trim(instruction))
    return
  end
  vim.ui.input({ prompt = 'Ollama agent instruction: ' }, function(input)
    if input and vim.trim(input) ~= '' then
      fn(vim.trim(input))
    end
  end)
end

--- Run the agent on lines line1..line2 (or a precise selection) with an instruction.
--- @param opts {bufnr: integer|nil, line1: integer|nil, line2: integer|nil, instruction: string|nil, selection: table|nil}
function M.run_selection(opts)
  opts = opts or {}
  local bufnr = client_mod.buffer(opts.bufnr)
  local client, err = client_mod.ensure(bufnr)
  if not client then
    error_msg(err or 'no language client')
    return
  end
  local sel = opts.selection
  if not sel then
    local line1 = opts.line1 or vim.api.nvim_win_get_cursor(0)[1]
    local line2 = opts.line2 or line1
    sel = { srow = line1, scol = 0, erow = line2, ecol = line_length(bufnr, line2) }
  end
  ask_instruction(opts.instruction, function(instruction)
    client_mod.when_ready(client, function(ready)
      local range = make_range(bufnr, sel.srow, sel.scol, sel.erow, sel.ecol, ready.offset_encoding)
      M.execute(commands.runSelection, {
        uri = vim.uri_from_bufnr(bufnr),
        range = range,
        instruction = instruction,
      }, { bufnr = bufnr, client_id = ready.id })
    end)
  end)
end

--- Run the agent on the last visual selection (used by the visual-mode mapping).
--- @param instruction string|nil
function M.run_visual(instruction)
  local bufnr = vim.api.nvim_get_current_buf()
  M.run_selection({ bufnr = bufnr, selection = M.visual_range(bufnr), instruction = instruction })
end

--- Implement the TODO on the cursor line (or on `line`, 1-based).
--- @param line integer|nil
function M.run_todo(line)
  local bufnr = vim.api.nvim_get_current_buf()
  line = line or vim.api.nvim_win_get_cursor(0)[1]
  M.execute(commands.implementTodo, { uri = vim.uri_from_bufnr(bufnr), line = line - 1 }, {
    bufnr = bufnr,
  })
end

--- Run the spec in the current buffer.
function M.run_spec()
  local bufnr = vim.api.nvim_get_current_buf()
  M.execute(commands.runSpec, { uri = vim.uri_from_bufnr(bufnr) }, { bufnr = bufnr })
end

local function all_clients()
  return vim.lsp.get_clients({ name = client_mod.name })
end

--- Send a simple command to every running agent client; cb(client, err, result) per answer.
local function broadcast(command, args, cb)
  local clients = all_clients()
  if #clients == 0 then
    error_msg('no agent server is running (open a file, or run :OllamaAgent first)')
    return
  end
  for _, client in ipairs(clients) do
    client_mod.execute_command(client, command, args, function(err, result)
      if cb then
        cb(client, err, result)
      end
    end)
  end
end

--- Arguments naming one run, or none (the server then takes every run, or the latest).
local function run_args(run_id)
  if run_id and run_id ~= '' then
    return { runId = run_id }
  end
  return {}
end

--- Cancel a run (runId) or every running run.
--- @param run_id string|nil
function M.cancel(run_id)
  broadcast(commands.cancel, run_args(run_id), function(_, err)
    if err then
      error_msg('cancel failed: ' .. tostring(err.message))
    end
  end)
end

--- Undo a run (runId) or the latest one.
--- @param run_id string|nil
function M.undo(run_id)
  broadcast(commands.undoRun, run_args(run_id), function(_, err, result)
    if err then
      error_msg('undo failed: ' .. tostring(err.message))
      return
    end
    notify(M.describe_undo(result))
    fire('OllamaAgentUndoDone', { result = result })
  end)
end

--- A run as the user knows it: its label and short id, e.g. `run "calc.py:1-2: fix" (3f2a9c1b)`.
--- @param run_id string|nil
--- @return string
function M.run_name(run_id)
  if type(run_id) ~= 'string' then
    return 'the latest run'
  end
  local label = M.labels[run_id]
  if label then
    return ('run "%s" (%s)'):format(label, run_id)
  end
  return 'run ' .. run_id
end

--- One line for an undoRun answer {runId, applied, reverted: [uri], leftAlone: [{uri, reason}]}.
--- @param result table|nil
--- @return string
function M.describe_undo(result)
  if type(result) ~= 'table' then
    return 'undo: ' .. tostring(result)
  end
  local function name(uri)
    return vim.fn.fnamemodify(vim.uri_to_fname(uri), ':~:.')
  end
  local parts = {}
  if result.applied == false then
    parts[#parts + 1] = 'undo was not applied by the editor'
  else
    local files = vim.tbl_map(name, result.reverted or {})
    local run = M.run_name(result.runId)
    parts[#parts + 1] = #files > 0 and ('undid %s in %s'):format(run, table.concat(files, ', '))
      or ('nothing to undo in %s'):format(run)
  end
  for _, left in ipairs(result.leftAlone or {}) do
    local where = left.uri and name(left.uri) or '?'
    if left.startLine then
      where = ('%s:%s-%s'):format(where, tostring(left.startLine), tostring(left.endLine))
    end
    parts[#parts + 1] = ('left %s alone (%s)'):format(where, tostring(left.reason))
  end
  return table.concat(parts, '; ')
end

--- Ask the server for the installed models; cb(models|nil, err|nil).
function M.list_models(cb)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_mod.get(bufnr) or all_clients()[1]
  local err
  if not client then
    client, err = client_mod.ensure(bufnr)
  end
  if not client then
    cb(nil, err)
    return
  end
  client_mod.when_ready(client, function(ready)
    client_mod.execute_command(ready, commands.listModels, nil, function(rpc_err, result)
      cb(result, rpc_err and rpc_err.message or nil)
    end)
  end)
end

--- The model runs use now: the one picked, else the configured one, else the server's.
--- @return string|nil
function M.current_model()
  if M.model then
    return M.model
  end
  local configured = config.server_settings().model
  if configured then
    return configured
  end
  for _, client in ipairs(all_clients()) do
    local section = (client.settings or {}).ollamaAgent
    if type(section) == 'table' and type(section.model) == 'string' then
      return section.model
    end
  end
  return nil
end

local function has_tools(m)
  return vim.tbl_contains(m.capabilities or {}, 'tools')
end

--- One line for a model in the picker: name, current mark, capabilities, context, and a flag for
--- models that cannot call tools.
--- @param m {name: string, capabilities: string[]|nil, contextLength: integer|nil}
--- @param current string|nil
--- @return string
function M.describe_model(m, current)
  local parts = { m.name }
  local caps = m.capabilities or {}
  if #caps > 0 then
    parts[#parts + 1] = table.concat(caps, ', ')
  end
  if m.contextLength and m.contextLength ~= vim.NIL then
    parts[#parts + 1] = 'ctx ' .. tostring(m.contextLength)
  end
  if not has_tools(m) then
    parts[#parts + 1] = 'no tool calling'
  end
  local line = table.concat(parts, ' · ')
  if m.name == current then
    line = line .. '  (current)'
  end
  return line
end

--- Use `name` for this session's runs and tell every running server.
--- @param name string
--- @param model table|nil the listModels entry, to warn about a model without tools
function M.set_model(name, model)
  M.model = name
  for _, client in ipairs(all_clients()) do
    client.settings = client.settings or {}
    local section = client.settings.ollamaAgent
    if type(section) ~= 'table' or vim.tbl_isempty(section) then
      section = {}
    end
    section.model = name
    client.settings.ollamaAgent = section
    client_mod.notify(client, 'workspace/didChangeConfiguration', { settings = client.settings })
  end
  if model and not has_tools(model) then
    vim.notify(
      ('Ollama agent: runs now use %s, which does not advertise tool calling: the agent reads its '
        .. 'tool calls from the reply text, which small models often get wrong; a tools model '
        .. '(qwen3, llama3.1) works better'):format(name),
      vim.log.levels.WARN
    )
  else
    notify(('runs now use %s'):format(name))
  end
end

--- Pick a model with vim.ui.select over the installed models.
function M.select_model()
  M.list_models(function(models, err)
    if not models then
      error_msg('could not list models: ' .. tostring(err))
      return
    end
    if #models == 0 then
      error_msg('Ollama has no models installed; pull one, e.g. `ollama pull qwen3:8b`')
      return
    end
    local current = M.current_model()
    vim.ui.select(models, {
      prompt = 'Ollama model',
      kind = 'ollama_agent_model',
      format_item = function(m)
        return M.describe_model(m, current)
      end,
    }, function(choice)
      if choice then
        M.set_model(choice.name, choice)
      end
    end)
  end)
end

--- An `ollamaAgent/runFinished` notification: the end of a run that answered `running`.
--- @param params table the run result
--- @param ctx table
function M.on_run_finished(params, ctx)
  if type(params) ~= 'table' or not params.runId then
    return
  end
  local run_key = tostring(ctx and ctx.client_id) .. ':' .. params.runId
  local run = M.following[run_key]
  if run then
    M.following[run_key] = nil
    finish(run.command, params, ctx and ctx.client_id)
    return
  end
  -- Its answer is still to be handled (or another client started it): keep it for a while.
  unclaimed[run_key] = params
  vim.defer_fn(function()
    if unclaimed[run_key] then
      unclaimed[run_key] = nil
      finish(nil, params, ctx and ctx.client_id)
    end
  end, 2000)
end

--- An `ollamaAgent/transcript` notification.
function M.on_transcript(params, ctx)
  if type(params) ~= 'table' then
    return
  end
  if params.kind == 'started' and params.runId and type(params.text) == 'string' then
    M.labels[params.runId] = params.text
  end
  transcript.append(params)
  require('ollama_agent.chat').on_event(params)
  if params.kind == 'edit' and params.runId then
    require('ollama_agent.changes').on_edit(params.runId, ctx and ctx.client_id)
  end
end

--- Progress of the agent's runs for a statusline ('' when idle), by `client_id:token`.
M.progress = {}
--- Tokens of runs that ended: a report that comes after the result must not bring them back.
M.ended = {}

--- @return string
function M.status()
  local parts = {}
  for _, value in pairs(M.progress) do
    local text = value.title or 'Ollama agent'
    if value.message and value.message ~= '' then
      text = text .. ': ' .. value.message
    end
    parts[#parts + 1] = text
  end
  table.sort(parts)
  return table.concat(parts, ' | ')
end

--- An LspProgress event: remember the agent's progress and redraw statuslines.
function M.on_progress(ev)
  local data = ev.data or {}
  local client = data.client_id and vim.lsp.get_client_by_id(data.client_id)
  if not client or client.name ~= client_mod.name then
    return
  end
  local params = data.params or {}
  local value = params.value or {}
  local key = client.id .. ':' .. tostring(params.token)
  if value.kind == 'end' or M.ended[key] then
    M.progress[key] = nil
  else
    local prev = M.progress[key] or {}
    M.progress[key] = {
      title = value.title or prev.title,
      message = value.message or prev.message,
      percentage = value.percentage or prev.percentage,
    }
  end
  -- Every window's statusline, not only the current one's.
  vim.cmd('redrawstatus!')
end

return M
