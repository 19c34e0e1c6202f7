-- The visual-mode keymap asks for an instruction, opens the chat on the run (open_on_run) beside
-- the code, and the agent's edit lands in the buffer; the chat shows the edit's diff.
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

-- The run opened the chat (chat.open_on_run is on by default); the code window kept the focus.
local chat = require('ollama_agent.chat')
local cwin, iwin = chat.windows()
assert(cwin and iwin, 'the visual-mode run did not open the chat')
assert(vim.api.nvim_get_current_buf() == buf, 'the chat took the focus from the code')
-- The chat shows the edit as a diff of the changed line, each side highlighted.
local cbuf = chat.shown().view.buf
assert(vim.api.nvim_win_get_buf(cwin) == cbuf, 'the chat window shows another buffer')
local text = H.chat_text()
H.log(text)
for _, want in ipairs({ 'fix the bug in add', '⚙ edit_file calc.py', '    -    return a - b', '    +    return a + b' }) do
  assert(text:find(want, 1, true), ('the chat lacks %q:\n%s'):format(want, text))
end
local groups = {}
for _, m in ipairs(vim.api.nvim_buf_get_extmarks(cbuf, require('ollama_agent.view').ns, 0, -1, { details = true })) do
  local line = vim.api.nvim_buf_get_lines(cbuf, m[2], m[2] + 1, false)[1]
  groups[line] = m[4].hl_group
end
assert(groups['    -    return a - b'] == 'OllamaAgentChatDiffDelete', vim.inspect(groups))
assert(groups['    +    return a + b'] == 'OllamaAgentChatDiffAdd', vim.inspect(groups))
H.done()
