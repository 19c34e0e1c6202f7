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
  --- Attach only to these filetypes (nil: every buffer that has a file).
  filetypes = nil,
  --- Shortcuts for the most common server settings (nil: the server's default).
  model = nil,
  ollama_url = nil,
  apply_mode = nil, -- "live" | "review"
  command_approval = nil, -- "ask" | "allowlist" | "never" | "always"
  --- Any other server setting, camelCase as the server documents it (numCtx, maxTurns, ...).
  settings = {},
  --- Global key mappings; a value of false turns a mapping off.
  keymaps = {
    selection = '<leader>aa', -- visual mode: run the agent on the selection
    keep = '<leader>ak', -- normal mode: keep the agent's change under the cursor
    undo_hunk = '<leader>au', -- normal mode: undo the agent's change under the cursor
  },
  chat = {
    --- Open the chat when a run starts (:OllamaAgent, the visual mapping, the TODO action).
    open_on_run = true,
    --- "split" or "float".
    layout = 'split',
    --- Ex command that makes the split (layout = "split").
    split = 'botright vsplit',
    --- Size of the float as a fraction of the editor (layout = "float").
    float = { width = 0.6, height = 0.7, border = 'rounded' },
    --- Lines of the input area under the conversation.
    input_height = 4,
    --- Answer command approvals in the chat (false: vim.ui.select).
    approvals = true,
    --- Keys in the chat and its input area; false turns one off.
    keymaps = {
      send = '<CR>', -- normal mode, input area: send the message
      send_insert = '<C-s>', -- insert mode, input area: send the message
      close = 'q', -- normal mode: close the chat
      cancel = '<C-c>', -- normal mode (and insert mode in the input): cancel the run
      allow = 'a', -- normal mode, conversation: allow the command asked about
      allow_session = 's', -- ... allow it for the rest of the session
      deny = 'd', -- ... deny it (or keep a sandbox-blocked command blocked)
      allow_outside = 'o', -- ... run a sandbox-blocked command outside the sandbox once
    },
  },
  transcript = {
    --- Ex command that opens the transcript window (:OllamaAgentTranscript).
    split = 'botright vsplit',
  },
  changes = {
    --- Highlight the regions a run changed (DiffAdd / DiffChange) until kept or undone.
    highlight = true,
    --- Virtual text at each changed region saying how to keep or undo it.
    hints = true,
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

--- Options that were removed, with what to do instead.
local removed = {
  autostart = "autostart is gone: start the server with vim.lsp.enable('ollama_agent') "
    .. '(see :help ollama-agent-setup)',
}

--- Keys with a nil default that are still options.
local nil_defaults = { cmd = true, cmd_env = true, filetypes = true }

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
  user = vim.deepcopy(user)
  for key in pairs(user) do
    if removed[key] then
      problems[#problems + 1] = removed[key]
      user[key] = nil
    elseif M.defaults[key] == nil and shortcuts[key] == nil and not nil_defaults[key] then
      problems[#problems + 1] = ('unknown option %q (see :help ollama-agent-options)'):format(key)
    end
  end
  if type(user.transcript) == 'table' and user.transcript.open_on_run ~= nil then
    problems[#problems + 1] = 'transcript.open_on_run moved to chat.open_on_run'
    user.chat = vim.tbl_extend('keep', user.chat or {}, { open_on_run = user.transcript.open_on_run })
    user.transcript.open_on_run = nil
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
  if type(user.chat) == 'table' and user.chat.layout ~= nil then
    if not vim.tbl_contains({ 'split', 'float' }, user.chat.layout) then
      problems[#problems + 1] = ('option chat.layout = %q is not "split" or "float"; "split" is used'):format(
        tostring(user.chat.layout)
      )
      user.chat.layout = nil
    end
  end
  if user.cmd ~= nil and type(user.cmd) == 'string' then
    user.cmd = { user.cmd }
  end
  if user.keymaps == false then
    user.keymaps = { selection = false, keep = false, undo_hunk = false }
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
