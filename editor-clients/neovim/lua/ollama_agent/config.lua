--- Options of the plugin: defaults, validation, and the settings sent to the server.
local M = {}

--- @class ollama_agent.Config
M.defaults = {
  --- Command that starts the language server (argv list). nil: `ollama-agent-ls`.
  cmd = nil,
  --- Extra environment for the server process.
  cmd_env = nil,
  --- Files or folders that mark a project root (the agent's workspace).
  root_markers = { '.git', '.hg', 'pyproject.toml', 'package.json', 'Cargo.toml', 'go.mod' },
  --- Attach the server to every file buffer as it is opened (after setup()).
  autostart = true,
  --- Attach only to these filetypes (nil: every buffer that has a file).
  filetypes = nil,
  --- Shortcuts for the most common server settings (nil: the server's default).
  model = nil,
  ollama_url = nil,
  apply_mode = nil, -- "live" | "review"
  command_approval = nil, -- "ask" | "allowlist" | "never" | "always"
  --- Any other server setting, camelCase as the server documents it (numCtx, maxTurns, ...).
  settings = {},
  --- Key mappings; a value of false turns a mapping off.
  keymaps = {
    selection = '<leader>aa', -- visual mode: run the agent on the selection
  },
  transcript = {
    --- Ex command that opens the transcript window.
    split = 'botright vsplit',
    --- Open the transcript window when a run starts.
    open_on_run = false,
  },
  --- Show each run's summary with vim.notify when it ends.
  notify = true,
}

M.options = vim.deepcopy(M.defaults)

local shortcuts = {
  model = 'model',
  ollama_url = 'ollamaUrl',
  apply_mode = 'applyMode',
  command_approval = 'commandApproval',
}

local choices = {
  apply_mode = { 'live', 'review' },
  command_approval = { 'ask', 'allowlist', 'never', 'always' },
}

--- Merge user options over the defaults; returns the list of problems found.
--- @param user table|nil
--- @return string[]
function M.set(user)
  user = user or {}
  local problems = {}
  if type(user) ~= 'table' then
    problems[#problems + 1] = 'setup() takes a table of options, e.g. setup({ model = "qwen3:8b" })'
    user = {}
  end
  for key in pairs(user) do
    if M.defaults[key] == nil and shortcuts[key] == nil and key ~= 'cmd' and key ~= 'cmd_env'
      and key ~= 'filetypes'
    then
      problems[#problems + 1] = ('unknown option %q (see :help ollama-agent-options)'):format(key)
    end
  end
  for key, allowed in pairs(choices) do
    local value = user[key]
    if value ~= nil and not vim.tbl_contains(allowed, value) then
      problems[#problems + 1] = ('option %s = %q is not one of: %s; the server default is used'):format(
        key,
        tostring(value),
        table.concat(allowed, ', ')
      )
      user[key] = nil
    end
  end
  if user.cmd ~= nil and type(user.cmd) == 'string' then
    user.cmd = { user.cmd }
  end
  if user.keymaps == false then
    user.keymaps = { selection = false }
  end
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), user)
  -- Lists replace rather than merge.
  if user.root_markers then
    M.options.root_markers = user.root_markers
  end
  if user.cmd then
    M.options.cmd = user.cmd
  end
  return problems
end

--- The server command as an argv list.
--- @return string[]
function M.cmd()
  return M.options.cmd or { 'ollama-agent-ls' }
end

--- Settings for the server (section `ollamaAgent`), camelCase keys.
--- @return table
function M.server_settings()
  local settings = vim.deepcopy(M.options.settings or {})
  for key, wire in pairs(shortcuts) do
    if M.options[key] ~= nil then
      settings[wire] = M.options[key]
    end
  end
  return settings
end

return M
