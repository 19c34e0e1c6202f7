-- User commands and <Plug> mappings of ollama_agent; setup() adds keymaps and autostart.
if vim.g.loaded_ollama_agent then
  return
end
vim.g.loaded_ollama_agent = true

if vim.fn.has('nvim-0.10') ~= 1 then
  vim.notify_once('ollama_agent needs Neovim 0.10 or newer', vim.log.levels.WARN)
  return
end

local function agent()
  return require('ollama_agent')
end

local command = vim.api.nvim_create_user_command

command('OllamaAgent', function(o)
  agent().run_selection({ line1 = o.line1, line2 = o.line2, instruction = o.args })
end, { nargs = '*', range = true, desc = 'Ollama agent: run on the line range with an instruction' })

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

command('OllamaAgentModel', function()
  agent().select_model()
end, { desc = 'Ollama agent: choose the model' })

command('OllamaAgentTranscript', function()
  agent().open_transcript()
end, { desc = 'Ollama agent: show the live transcript' })

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
