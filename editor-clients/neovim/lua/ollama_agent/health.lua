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

function M.check()
  local config = require('ollama_agent.config')
  local client_mod = require('ollama_agent.client')

  health.start('Neovim')
  if vim.fn.has('nvim-0.10') == 1 then
    local v = vim.version()
    health.ok(('Neovim %d.%d.%d'):format(v.major, v.minor, v.patch))
  else
    health.error('Neovim 0.10 or newer is required', { 'Upgrade Neovim' })
  end

  health.start('Language server')
  local cmd = config.cmd()
  if vim.fn.executable(cmd[1]) ~= 1 then
    health.error(('server command not found: %s'):format(cmd[1]), {
      'Install the server: pip install ollama-agent-ls',
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
    health.error(('`%s --version` failed: %s'):format(table.concat(cmd, ' '), detail), {
      'Reinstall the server (pip install -U ollama-agent-ls) or fix cmd in setup()',
    })
    return
  end

  health.start('Ollama (checkSetup)')
  local client, temporary = get_client()
  if not client then
    health.error('the language server did not start or initialize', { 'See :LspLog' })
    return
  end
  local setup, err = check_setup(client, 20000)
  if temporary then
    client_mod.stop(client, true)
  end
  if not setup then
    health.error('checkSetup failed: ' .. tostring(err), { 'See :LspLog' })
    return
  end
  local url = value(setup.ollamaUrl) and setup.ollamaUrl or '?'
  local problems = value(setup.problems) and setup.problems or {}
  if setup.reachable then
    local version = value(setup.version) and (' (version ' .. setup.version .. ')') or ''
    health.ok(('Ollama reachable at %s%s'):format(url, version))
  else
    health.error(('Ollama is not reachable at %s'):format(url), #problems > 0 and problems or {
      'Start Ollama (ollama serve) or set ollama_url in setup()',
    })
    return
  end
  local model = value(setup.model) and setup.model or '?'
  if setup.modelPresent then
    health.ok(('model %s is installed'):format(model))
  else
    health.error(('model %s is not installed'):format(model), {
      ('Pull it: ollama pull %s, or pick another with :OllamaAgentModel'):format(model),
    })
  end
  if setup.modelPresent then
    if setup.supportsTools then
      health.ok(('model %s supports tool calling'):format(model))
    else
      health.warn(('model %s does not advertise tool calling'):format(model), {
        'The agent falls back to reading tool calls from text; a tools model (qwen3, llama3.1) works better',
      })
    end
    if value(setup.contextLength) then
      health.info(('context length %s'):format(tostring(setup.contextLength)))
    end
  end
  for _, problem in ipairs(problems) do
    health.warn(problem)
  end
end

return M
