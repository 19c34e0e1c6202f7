-- A run_command is asked in the chat (ollamaAgent/approveCommand) and answered there with a
-- key in the conversation window (argv: the key and the decision the chat then shows); before
-- an allowed command runs, the edited buffer is written through ollamaAgent/saveDocuments.
local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup({ command_approval = 'ask' })
local key, shown = assert(_G.arg[1], 'pass the key'), assert(_G.arg[2], 'pass what the chat shows')

local buf, client = H.open('calc.py')
assert(client.config.capabilities.experimental.ollamaAgent.approveCommand == true)
local selects = H.answer_select(function()
  return false
end)

vim.cmd('1,2OllamaAgent fix add and show the file')
local chat = require('ollama_agent.chat')
local chat_text = H.chat_text
H.wait('the approval in the chat', function()
  return chat_text():find('Run this command? cat calc.py', 1, true) ~= nil
end)
assert(#H.results == 0, 'the run ended before the answer')
-- The user was in the code window: the chat tells them, and the keys answer in the conversation.
assert(vim.api.nvim_get_current_buf() == buf, 'the approval took the focus from the code window')
assert(vim.iter(H.messages):any(function(m)
  return m.msg:find('answer in the chat', 1, true) ~= nil
end), 'no message pointing at the chat')
assert(chat_text():find('[a] allow   [s] allow for this session   [d] deny', 1, true), chat_text())
vim.api.nvim_set_current_win((chat.windows()))
vim.api.nvim_feedkeys(key, 'x', false)

local result = H.wait_result(1)
H.log(chat_text())
assert(chat_text():find(shown, 1, true), ('the chat does not show %q:\n%s'):format(shown, chat_text()))
assert(#selects == 0, 'asked through vim.ui.select too: ' .. vim.inspect(selects))
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))
assert(H.text(buf):find('return a + b', 1, true), 'edit not in the buffer')
if key ~= 'd' then
  assert(not vim.bo[buf].modified, 'the buffer was not written before the command ran')
end
H.done()
