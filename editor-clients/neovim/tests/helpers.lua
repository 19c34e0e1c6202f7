-- Shared set-up for the headless tests: plugin on the runtimepath, server and fake Ollama from
-- the environment the pytest wrapper sets, and waits that fail with a clear message.
local H = {}

H.plugin_dir = assert(vim.env.OLLAMA_AGENT_PLUGIN_DIR, 'OLLAMA_AGENT_PLUGIN_DIR is not set')
H.workspace = assert(vim.env.OLLAMA_AGENT_TEST_WORKSPACE, 'OLLAMA_AGENT_TEST_WORKSPACE is not set')
H.ollama_url = assert(vim.env.OLLAMA_AGENT_TEST_URL, 'OLLAMA_AGENT_TEST_URL is not set')
local cmd_json = assert(vim.env.OLLAMA_AGENT_TEST_CMD, 'OLLAMA_AGENT_TEST_CMD is not set')
H.server_cmd = vim.json.decode(cmd_json)
H.timeout = tonumber(vim.env.OLLAMA_AGENT_TEST_TIMEOUT or '') or 20000

H.messages = {}

--- Log a line to the test output.
function H.log(...)
  io.stdout:write(table.concat(vim.tbl_map(tostring, { ... }), ' ') .. '\n')
end

--- Put the plugin on the runtimepath, load it, call setup() for the test workspace and enable
--- the server the one way the plugin starts it (how.enable = false: leave it disabled).
function H.setup(opts, how)
  vim.opt.runtimepath:prepend(H.plugin_dir)
  vim.cmd('runtime plugin/ollama_agent.lua')
  vim.g.mapleader = ' '
  vim.cmd.cd(H.workspace)
  -- Keep messages for assertions and the log instead of blocking on hit-enter.
  vim.notify = function(msg, level)
    H.messages[#H.messages + 1] = { msg = msg, level = level }
    H.log('[notify ' .. tostring(level) .. '] ' .. tostring(msg))
  end
  local options = vim.tbl_deep_extend('force', {
    cmd = H.server_cmd,
    ollama_url = H.ollama_url,
    model = 'qwen3:8b',
    settings = { logLevel = 'debug' },
  }, opts or {})
  require('ollama_agent').setup(options)
  if not (how and how.enable == false) then
    vim.lsp.enable('ollama_agent')
  end
end

--- Wait until cond() is true; fail with `what` otherwise.
function H.wait(what, cond, timeout)
  local ok = vim.wait(timeout or H.timeout, cond, 20)
  if not ok then
    error('timed out waiting for ' .. what .. '\n' .. H.dump(), 2)
  end
end

--- Open a workspace file and wait for the agent's client to be attached and initialized.
--- @return integer bufnr, vim.lsp.Client client
function H.open(rel)
  vim.cmd.edit(vim.fs.joinpath(H.workspace, rel))
  local buf = vim.api.nvim_get_current_buf()
  local client
  H.wait('the ollama_agent client to attach to ' .. rel, function()
    client = require('ollama_agent.client').get(buf)
    return client ~= nil and client.initialized == true
  end)
  return buf, client
end

--- Answer every vim.ui.select with the first item pick(item) accepts (nil when none does).
--- @return {items: table[], opts: table}[] the calls, in order, for assertions
function H.answer_select(pick)
  local calls = {}
  vim.ui.select = function(items, opts, on_choice)
    calls[#calls + 1] = { items = items, opts = opts }
    for _, item in ipairs(items) do
      if pick(item) then
        on_choice(item)
        return
      end
    end
    on_choice(nil)
  end
  return calls
end

--- The whole buffer as one string.
function H.text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf or 0, 0, -1, false), '\n')
end

--- The text of the conversation the chat shows.
function H.chat_text()
  local chat = require('ollama_agent.chat')
  return table.concat(vim.api.nvim_buf_get_lines(chat.shown().view.buf, 0, -1, false), '\n')
end

--- Record run results as they arrive (User OllamaAgentRunDone).
H.results = {}
vim.api.nvim_create_autocmd('User', {
  pattern = 'OllamaAgentRunDone',
  callback = function(ev)
    H.results[#H.results + 1] = ev.data
    H.log('[run done] ' .. vim.inspect(ev.data, { newline = ' ', indent = '' }))
  end,
})

--- Wait for the n-th run result.
function H.wait_result(n)
  n = n or 1
  H.wait(('run result #%d'):format(n), function()
    return #H.results >= n
  end)
  return H.results[n]
end

--- State for failure messages.
function H.dump()
  local ok, transcript = pcall(function()
    return table.concat(require('ollama_agent.transcript').lines(), '\n')
  end)
  return ('--- buffer ---\n%s\n--- transcript ---\n%s\n--- results ---\n%s'):format(
    H.text(0),
    ok and transcript or '?',
    vim.inspect(H.results)
  )
end

--- Stop the clients and leave with status 0.
function H.done()
  for _, client in ipairs(vim.lsp.get_clients()) do
    require('ollama_agent.client').stop(client, true)
  end
  H.log('OK')
  vim.cmd('qall!')
end

return H
