-- The visual-mode keymap asks for an instruction and the agent's edit lands in the buffer.
local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup()

local buf = H.open('calc.py')
assert(H.text(buf):find('return a - b', 1, true), 'fixture text missing')

local asked
vim.ui.input = function(opts, on_confirm)
  asked = opts.prompt
  on_confirm('fix the bug in add')
end

-- Select lines 1-2 linewise and press the default mapping.
vim.api.nvim_feedkeys(vim.keycode('1GVj<leader>aa'), 'x', false)
assert(asked, 'the mapping did not ask for an instruction')

H.wait('the agent edit in the buffer', function()
  return H.text(buf):find('return a + b', 1, true) ~= nil
end)
local result = H.wait_result(1)
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))
assert(not H.text(buf):find('return a - b', 1, true), 'old text still there')
-- Live edits change the buffer, not the file: the user decides when to write.
assert(vim.bo[buf].modified, 'buffer should be modified, not written')
H.done()
