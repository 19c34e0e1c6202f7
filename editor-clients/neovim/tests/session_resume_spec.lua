-- Another Neovim: :OllamaAgentSessions lists the stored session, resumes it in the chat, and a
-- message sent there continues it; argv[1]: the sessionId.
local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup()
H.open('calc.py')
local selects = H.answer_select(function(item)
  return item.sessionId == _G.arg[1]
end)
vim.cmd('OllamaAgentSessions')
local chat = require('ollama_agent.chat')
local text = H.chat_text
H.wait('the resumed session in the chat', function()
  return chat.current == _G.arg[1] and text():find('edit_file', 1, true) ~= nil
end)
local offered = selects[1].opts.format_item(selects[1].items[1])
assert(offered:find('qwen3:8b · 1 run · ', 1, true), 'session entry: ' .. offered)
H.log(text())
for _, want in ipairs({ 'You', 'fix add', '⚙ edit_file calc.py', '✓ completed', 'Fixed.' }) do
  assert(text():find(want, 1, true), ('resumed chat lacks %q:\n%s'):format(want, text()))
end
local _, iwin = chat.windows()
assert(vim.api.nvim_get_current_win() == iwin, 'the input area does not have the focus')
vim.api.nvim_buf_set_lines(chat.input_buf(), 0, -1, false, { 'what did you fix?' })
vim.api.nvim_feedkeys(vim.keycode('<CR>'), 'x', false)
local result = H.wait_result(1)
assert(result.sessionId == _G.arg[1], 'not the resumed session: ' .. vim.inspect(result))
assert(result.status == 'completed', vim.inspect(result))
H.done()
