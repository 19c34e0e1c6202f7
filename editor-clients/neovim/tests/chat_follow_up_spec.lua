-- :OllamaAgentChat focuses the open chat; <CR> in its input (and the configured insert-mode key)
-- sends a follow-up in the same session; argv[1]: the layout, "split" or "float".
local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup({ chat = { keymaps = { send_insert = '<C-j>' }, layout = _G.arg[1] } })
local buf = H.open('calc.py')
vim.cmd('1,2OllamaAgent fix add')
local first = H.wait_result(1)
assert(first.status == 'completed', 'run status: ' .. vim.inspect(first))
local chat = require('ollama_agent.chat')
local cwin, iwin = chat.windows()
assert(cwin and iwin, 'the chat is not open')
if _G.arg[1] == 'float' then
  assert(vim.api.nvim_win_get_config(cwin).relative == 'editor', 'the chat is not a float')
end
-- The run left the focus in the code; :OllamaAgentChat with the chat open focuses its input
-- instead of opening a second chat.
assert(vim.api.nvim_get_current_buf() == buf, 'the run took the focus from the code')
local wins = #vim.api.nvim_list_wins()
vim.cmd('OllamaAgentChat')
assert(#vim.api.nvim_list_wins() == wins, ('%d windows, %d before'):format(#vim.api.nvim_list_wins(), wins))
local cwin2, iwin2 = chat.windows()
assert(cwin2 == cwin and iwin2 == iwin, 'another chat: ' .. vim.inspect({ cwin, iwin, cwin2, iwin2 }))
assert(vim.api.nvim_get_current_win() == iwin, 'the input area does not have the focus')
assert(vim.api.nvim_win_get_buf(cwin) == chat.shown().view.buf, 'the chat shows another conversation')
-- <CR> in normal mode in the input area sends a follow-up in the same session.
vim.api.nvim_buf_set_lines(chat.input_buf(), 0, -1, false, { 'now say what you changed' })
vim.api.nvim_feedkeys(vim.keycode('<CR>'), 'x', false)
local second = H.wait_result(2)
assert(second.command == 'ollamaAgent.followUp', 'ran ' .. tostring(second.command))
assert(second.sessionId == first.sessionId, 'another session: ' .. vim.inspect({ first, second }))
assert(vim.api.nvim_buf_get_lines(chat.input_buf(), 0, -1, false)[1] == '', 'input not cleared')
-- The configured insert-mode key sends too.
vim.api.nvim_set_current_win(iwin)
vim.api.nvim_feedkeys(vim.keycode('iand thank you<C-j>'), 'x', false)
local third = H.wait_result(3)
assert(third.sessionId == first.sessionId, 'another session: ' .. vim.inspect(third))
local text = table.concat(vim.api.nvim_buf_get_lines(chat.shown().view.buf, 0, -1, false), '\n')
H.log(text)
for _, want in ipairs({ 'now say what you changed', 'I changed - to +.', 'and thank you', 'You are welcome.' }) do
  assert(text:find(want, 1, true), ('chat lacks %q:\n%s'):format(want, text))
end
H.done()
