-- User commands, <Plug> mappings and the progress autocommand of ollama_agent. Nothing starts
-- here: vim.lsp.enable('ollama_agent') starts the server, setup() only sets options and keys.
if vim.g.loaded_ollama_agent then
  return
end
vim.g.loaded_ollama_agent = true

if vim.fn.has('nvim-0.11') ~= 1 then
  vim.notify_once('ollama_agent needs Neovim 0.11 or newer (vim.lsp.enable)', vim.log.levels.WARN)
  return
end

local function agent()
  return require('ollama_agent')
end

local command = vim.api.nvim_create_user_command

command('OllamaAgent', function(o)
  agent().run_selection({ line1 = o.line1, line2 = o.line2, instruction = o.args })
end, { nargs = '*', range = true, desc = 'Ollama agent: run on the line range with an instruction' })

command('OllamaAgentChat', function()
  agent().open_chat()
end, { desc = 'Ollama agent: open the chat for the current session' })

command('OllamaAgentSessions', function()
  agent().select_session()
end, { desc = 'Ollama agent: pick a session and resume it in the chat' })

command('OllamaAgentApprove', function(o)
  agent().approve(o.args)
end, {
  nargs = 1,
  complete = function()
    return require('ollama_agent.protocol').decisions
  end,
  desc = 'Ollama agent: answer the command approval waiting in the chat',
})

command('OllamaAgentSpec', function()
  agent().run_spec()
end, { desc = 'Ollama agent: run the spec in this buffer' })

command('OllamaAgentTodo', function(o)
  agent().run_todo(o.range > 0 and o.line1 or nil)
end, { range = true, desc = 'Ollama agent: implement the TODO on the cursor line' })

command('OllamaAgentCancel', function(o)
  agent().cancel(o.args)
end, { nargs = '?', desc = 'Ollama agent: cancel a run (default: every running run)' })

command('OllamaAgentUndo', function(o)
  agent().undo(o.args)
end, { nargs = '?', desc = 'Ollama agent: undo a run (default: the latest)' })

command('OllamaAgentKeep', function()
  agent().keep()
end, { desc = "Ollama agent: keep the agent's change under the cursor" })

command('OllamaAgentUndoHunk', function()
  agent().undo_hunk()
end, { desc = "Ollama agent: undo the agent's change under the cursor" })

command('OllamaAgentReview', function(o)
  agent().review(o.args)
end, { nargs = '?', desc = "Ollama agent: show a run's changes as a diff (default: the latest)" })

command('OllamaAgentModel', function()
  agent().select_model()
end, { desc = 'Ollama agent: choose the model' })

command('OllamaAgentTranscript', function()
  agent().open_transcript()
end, { desc = 'Ollama agent: show every run as it streams' })

-- <Esc> first so the '< and '> marks hold the selection the function reads.
vim.keymap.set('x', '<Plug>(ollama-agent-selection)', function()
  vim.api.nvim_feedkeys(vim.keycode('<Esc>'), 'nx', false)
  agent().run_visual()
end, { desc = 'Ollama agent: run on selection' })

vim.keymap.set('n', '<Plug>(ollama-agent-todo)', function()
  agent().run_todo()
end, { desc = 'Ollama agent: implement the TODO on this line' })

vim.keymap.set('n', '<Plug>(ollama-agent-cancel)', function()
  agent().cancel()
end, { desc = 'Ollama agent: cancel running runs' })

vim.keymap.set('n', '<Plug>(ollama-agent-chat)', function()
  agent().open_chat()
end, { desc = 'Ollama agent: open the chat' })

vim.keymap.set('n', '<Plug>(ollama-agent-keep)', function()
  agent().keep()
end, { desc = "Ollama agent: keep the agent's change under the cursor" })

vim.keymap.set('n', '<Plug>(ollama-agent-undo-hunk)', function()
  agent().undo_hunk()
end, { desc = "Ollama agent: undo the agent's change under the cursor" })

vim.api.nvim_create_autocmd('LspProgress', {
  group = vim.api.nvim_create_augroup('ollama_agent', { clear = true }),
  callback = function(ev)
    require('ollama_agent.commands').on_progress(ev)
  end,
})
