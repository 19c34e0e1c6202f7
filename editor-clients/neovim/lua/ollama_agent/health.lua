--- :checkhealth ollama_agent - Neovim, the server and its version, Ollama and the model.
local M = {}

local health = vim.health

--- Ask a client for checkSetup and wait for the answer.
local function check_setup(client, timeout)
  local client_mod = require('ollama_agent.client')
  local params = client_mod.command_params(client_mod.commands.checkSetup)
  local response, err = client_mod.request_sync(client, 'workspace/executeCommand', params, timeout)
  if not response then
    return nil, err or 'no answer'
  end
  if response.err then
    return nil, response.err.message or vim.inspect(response.err)
  end
  return response.result
end

--- A client to ask: the running one, or a temporary one that is stopped afterwards.
local function get_client()
  local client_mod = require('ollama_agent.client')
  local running = vim.lsp.get_clients({ name = client_mod.name })[1]
  if running then
    return running, false
  end
  local cfg = client_mod.lsp_config(vim.fn.getcwd())
  -- A separate name so autostart never reuses the short-lived client.
  cfg.name = client_mod.name .. '_health'
  cfg.handlers = {}
  local id
  if vim.fn.has('nvim-0.11') == 1 then
    id = vim.lsp.start(cfg, { attach = false, silent = true })
  else
    id = vim.lsp.start_client(cfg)
  end
  local client = id and vim.lsp.get_client_by_id(id)
  if not client then
    return nil, false
  end
  vim.wait(15000, function()
    return client.initialized == true
  end, 20)
  if not client.initialized then
    client_mod.stop(client, true)
    return nil, false
  end
  return client, true
end

local function value(v)
  return v ~= nil and v ~= vim.NIL
end

--- Report each sentence once: an ERROR's advice never repeats its own text, and a problem the
--- server listed is not warned about again after it was the error.
local function reporter()
  local said = {}
  local r = {}
  local function fresh(list)
    local out = {}
    for _, item in ipairs(list or {}) do
      if not said[item] then
        out[#out + 1] = item
      end
    end
    return out
  end
  function r.error(msg, advice)
    said[msg] = true
    advice = fresh(advice)
    for _, a in ipairs(advice) do
      said[a] = true
    end
    health.error(msg, #advice > 0 and advice or nil)
  end
  function r.warn(msg, advice)
    if said[msg] then
      return
    end
    said[msg] = true
    health.warn(msg, advice)
  end
  function r.said(msg)
    said[msg] = true
  end
  return r
end

--- The server's problem sentence about `what` (its own words, with the fix), if it has one.
local function problem_about(problems, what)
  for _, p in ipairs(problems) do
    if p:lower():find(what:lower(), 1, true) then
      return p
    end
  end
  return nil
end

function M.check()
  local config = require('ollama_agent.config')
  local client_mod = require('ollama_agent.client')
  local report = reporter()

  health.start('Neovim')
  if vim.fn.has('nvim-0.11') == 1 then
    local v = vim.version()
    health.ok(('Neovim %d.%d.%d'):format(v.major, v.minor, v.patch))
  else
    report.error('Neovim 0.11 or newer is required (vim.lsp.enable)', { 'Upgrade Neovim' })
  end
  if vim.lsp.is_enabled and vim.lsp.is_enabled(client_mod.name) then
    health.ok("vim.lsp.enable('ollama_agent') is set: the server starts with file buffers")
  else
    report.error("the server is not enabled, so it never starts", {
      "Add vim.lsp.enable('ollama_agent') to your config (see :help ollama-agent-setup)",
    })
  end

  health.start('Language server')
  local cmd = config.cmd()
  if vim.fn.executable(cmd[1]) ~= 1 then
    report.error(('server command not found: %s'):format(cmd[1]), {
      'Install the server from a clone of ollama-agent-ls: pip install .',
      'Or point the plugin at it: require("ollama_agent").setup({ cmd = { "/path/to/ollama-agent-ls" } })',
    })
    return
  end
  local argv = vim.list_extend(vim.deepcopy(cmd), { '--version' })
  local ok, res = pcall(function()
    return vim.system(argv, { text = true, env = config.options.cmd_env }):wait(20000)
  end)
  if ok and res and res.code == 0 then
    local version = vim.trim((res.stdout or '') .. (res.stderr or ''))
    health.ok(('server: %s (%s)'):format(version, table.concat(cmd, ' ')))
  else
    local detail = ok and res and vim.trim(res.stderr or '') or tostring(res)
    report.error(('`%s --version` failed: %s'):format(table.concat(cmd, ' '), detail), {
      'Reinstall the server (pip install . in the clone) or fix cmd in setup()',
    })
    return
  end

  health.start('Ollama (checkSetup)')
  local client, temporary = get_client()
  if not client then
    report.error('the language server did not start or initialize', { 'See :LspLog' })
    return
  end
  local setup, err = check_setup(client, 20000)
  if temporary then
    client_mod.stop(client, true)
  end
  if not setup then
    report.error('checkSetup failed: ' .. tostring(err), { 'See :LspLog' })
    return
  end
  local url = value(setup.ollamaUrl) and setup.ollamaUrl or '?'
  local problems = value(setup.problems) and setup.problems or {}
  if setup.reachable then
    local version = value(setup.version) and (' (version ' .. setup.version .. ')') or ''
    health.ok(('Ollama reachable at %s%s'):format(url, version))
  else
    -- The server's sentences say what failed and how to fix it: each is one ERROR.
    if #problems == 0 then
      report.error(('Ollama is not reachable at %s'):format(url), {
        'Start Ollama (ollama serve) or set ollama_url in setup()',
      })
    end
    for _, problem in ipairs(problems) do
      report.error(problem)
    end
    return
  end
  local model = value(setup.model) and setup.model or '?'
  if setup.modelPresent then
    health.ok(('model %s is installed'):format(model))
  else
    local said = problem_about(problems, model)
    if said then
      report.error(said)
    else
      report.error(('model %s is not installed'):format(model), {
        ('Pull it: ollama pull %s, or pick another with :OllamaAgentModel'):format(model),
      })
    end
  end
  if setup.modelPresent then
    if setup.supportsTools then
      health.ok(('model %s supports tool calling'):format(model))
    else
      local said = problem_about(problems, 'tool')
      if said then
        report.warn(said)
      else
        report.warn(('model %s does not advertise tool calling'):format(model), {
          'The agent falls back to reading tool calls from text; a tools model (qwen3, llama3.1) works better',
        })
      end
    end
    if value(setup.contextLength) then
      health.info(('context length %s'):format(tostring(setup.contextLength)))
    end
  end
  for _, problem in ipairs(problems) do
    report.warn(problem)
  end
end

return M
