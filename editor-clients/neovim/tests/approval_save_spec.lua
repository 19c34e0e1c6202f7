-- A run_command asks through vim.ui.select; before it runs, the edited buffer is written
-- through ollamaAgent/saveDocuments so the command sees the agent's change.
local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup({ command_approval = 'ask' })

local buf = H.open('calc.py')

local selects = H.answer_select(function(item)
  return item.title == 'Allow'
end)

vim.cmd('1,2OllamaAgent fix add and show the file')
local result = H.wait_result(1)
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))
local prompts = vim.tbl_map(function(call)
  return call.opts.prompt
end, selects)
assert(#prompts == 1, 'expected one approval prompt, got ' .. vim.inspect(prompts))
assert(prompts[1]:find('cat calc.py', 1, true), 'prompt does not show the command: ' .. prompts[1])
assert(H.text(buf):find('return a + b', 1, true), 'edit not in the buffer')
assert(not vim.bo[buf].modified, 'the buffer was not written before the command ran')
H.done()
