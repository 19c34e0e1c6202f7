--- ollama_agent: a coding agent on a local Ollama model, through the ollama-agent-ls server.
local M = {}

--- Configure the plugin: options and the default key mappings. It starts nothing: the server
--- starts with vim.lsp.enable('ollama_agent') (see :help ollama-agent-setup).
--- @param opts table|nil see :help ollama-agent-options
function M.setup(opts)
  local config = require('ollama_agent.config')
  local problems = config.set(opts)
  for _, problem in ipairs(problems) do
    vim.notify('ollama_agent.setup: ' .. problem, vim.log.levels.WARN)
  end
  if vim.lsp.config then
    -- lsp/ollama_agent.lua reads the options when its config is resolved; a setup() after that
    -- makes it read them again (user overrides from vim.lsp.config stay).
    vim.lsp.config('ollama_agent', {})
  end

  local keys = config.options.keymaps or {}
  local maps = {
    { 'x', keys.selection, '<Plug>(ollama-agent-selection)', 'run on selection' },
    { 'n', keys.keep, '<Plug>(ollama-agent-keep)', 'keep the change under the cursor' },
    { 'n', keys.undo_hunk, '<Plug>(ollama-agent-undo-hunk)', 'undo the change under the cursor' },
  }
  for _, m in ipairs(maps) do
    if m[2] then
      vim.keymap.set(m[1], m[2], m[3], { desc = 'Ollama agent: ' .. m[4] })
    end
  end
end

-- The commands live in ollama_agent.commands, loaded on first use so setup() stays cheap.
local function command(name)
  return function(...)
    return require('ollama_agent.commands')[name](...)
  end
end

local function chat(name)
  return function(...)
    return require('ollama_agent.chat')[name](...)
  end
end

local function changes(name)
  return function(...)
    return require('ollama_agent.changes')[name](...)
  end
end

--- Run the agent on a line range with an instruction (asks for it when nil).
M.run_selection = command('run_selection')

--- Run the agent on the last visual selection.
M.run_visual = command('run_visual')

--- Implement the TODO on the cursor line.
M.run_todo = command('run_todo')

--- Run the spec in the current buffer.
M.run_spec = command('run_spec')

--- Cancel a run (or all running runs).
M.cancel = command('cancel')

--- Undo a run (or the latest run).
M.undo = command('undo')

--- Pick the model with vim.ui.select.
M.select_model = command('select_model')

--- Open (or focus) the chat for the current session.
M.open_chat = chat('open')

--- Pick a stored session with vim.ui.select and resume it in the chat.
M.select_session = chat('pick_session')

--- Answer the command approval waiting in the chat.
M.approve = chat('approve')

--- Keep the agent's change under the cursor.
M.keep = changes('keep')

--- Undo the agent's change under the cursor.
M.undo_hunk = changes('undo_hunk')

--- Show a run's changes as a diff.
M.review = changes('review')

--- Open the transcript window.
function M.open_transcript()
  return require('ollama_agent.transcript').open()
end

--- The agent's progress for a statusline ('' when idle).
M.status = command('status')

return M
