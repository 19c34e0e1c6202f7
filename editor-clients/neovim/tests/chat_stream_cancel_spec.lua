-- The chat opens on a run beside the code, streams the answer, <C-c> in its input cancels, q
-- closes it and :OllamaAgentChat shows the same conversation again.
local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup()
local buf = H.open('calc.py')
vim.cmd('1,2OllamaAgent rewrite this slowly')
local chat = require('ollama_agent.chat')
local text = H.chat_text
-- The chat opened on the run (open_on_run) beside the code, which keeps the focus, and streams.
H.wait('the answer streaming into the chat', function()
  return text():find('Still thinking', 1, true) ~= nil
end)
local cwin, iwin = chat.windows()
assert(cwin and iwin, 'the chat and its input are not both open')
assert(vim.api.nvim_get_current_buf() == buf, 'the run took the focus from the code')
assert(#H.results == 0, 'the run ended before cancel')
assert(text():find('rewrite this slowly  (calc.py:1-2)', 1, true), text())
assert(vim.wo[cwin].winbar:find('working', 1, true), 'winbar: ' .. vim.wo[cwin].winbar)
-- <C-c> in the input area cancels the session's run.
vim.api.nvim_set_current_win(iwin)
vim.api.nvim_feedkeys(vim.keycode('<C-c>'), 'x', false)
local result = H.wait_result(1)
assert(result.status == 'cancelled', 'run status: ' .. vim.inspect(result))
H.wait('the end in the chat', function()
  return text():find('■ cancelled', 1, true) ~= nil
end)
assert(not vim.wo[cwin].winbar:find('working', 1, true), 'winbar: ' .. vim.wo[cwin].winbar)
-- q closes it; :OllamaAgentChat brings the same conversation back.
vim.api.nvim_set_current_win(cwin)
vim.api.nvim_feedkeys('q', 'x', false)
assert(chat.windows() == nil, 'q did not close the chat')
vim.cmd('OllamaAgentChat')
assert(text():find('Still thinking', 1, true), 'the conversation is gone')
H.done()
