local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup()
local buf = H.open('calc.py')
local client_mod = require('ollama_agent.client')
local sent = {}
-- The real server answers; the keep and undo commands the plugin sends are noted on the way.
local real = client_mod.execute_command
client_mod.execute_command = function(client, command, args, handler, bufnr)
  if command ~= require('ollama_agent.protocol').commands.runChanges then
    sent[#sent + 1] = { command = command, args = args }
  end
  return real(client, command, args, handler, bufnr)
end

local shown = false
vim.api.nvim_create_autocmd('User', { pattern = 'OllamaAgentChangesShown', callback = function() shown = true end })
vim.cmd('1,6OllamaAgent fix add and mul')
local result = H.wait_result(1)
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))
H.wait('the marks', function()
  return shown
end)
local changes = require('ollama_agent.changes')
local function marked_rows()
  local rows = {}
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(buf, changes.ns, 0, -1, { details = true })) do
    rows[#rows + 1] = { row = m[2], hl = m[4].hl_group, hint = m[4].virt_text and m[4].virt_text[1][1] }
  end
  return rows
end
local rows = marked_rows()
assert(#rows == 2, vim.inspect(rows))
assert(rows[1].row == 1 and rows[2].row == 5, vim.inspect(rows))
assert(rows[1].hl == 'OllamaAgentHunkChange', vim.inspect(rows))
assert(vim.api.nvim_get_hl(0, { name = 'OllamaAgentHunkChange' }).link == 'DiffChange')
assert(rows[1].hint:find('<leader>ak keeps · <leader>au undoes', 1, true), rows[1].hint)

-- The user edits elsewhere: a line at the top. The marks move with the text.
vim.api.nvim_buf_set_lines(buf, 0, 0, false, { '# a note of mine' })
-- Undo the second hunk (now line 7) with the <Plug> mapping's default key.
vim.api.nvim_win_set_cursor(0, { 7, 0 })
local done = {}
vim.api.nvim_create_autocmd('User', { pattern = 'OllamaAgentHunkDone', callback = function(ev) done[#done + 1] = ev.data end })
vim.api.nvim_feedkeys(vim.keycode('<leader>au'), 'x', false)
H.wait('the undo of h2', function()
  return #done == 1
end)
assert(sent[#sent].command == 'ollamaAgent.revertHunk' and sent[#sent].args.hunkId == 'h2', vim.inspect(sent))
local want = '# a note of mine\ndef add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a + b'
assert(H.text(buf) == want, 'after undoing h2:\n' .. H.text(buf))
rows = marked_rows()
assert(#rows == 1 and rows[1].row == 2, 'marks after undo: ' .. vim.inspect(rows))

-- Keep the first with :OllamaAgentKeep on its line: its mark goes, the text stays.
vim.api.nvim_win_set_cursor(0, { 3, 0 })
vim.cmd('OllamaAgentKeep')
H.wait('the keep of h1', function()
  return #done == 2
end)
assert(sent[#sent].args.hunkId == 'h1' and sent[#sent].command == 'ollamaAgent.keepHunk', vim.inspect(sent))
assert(#marked_rows() == 0, vim.inspect(marked_rows()))
assert(H.text(buf) == want, 'keep changed the text:\n' .. H.text(buf))
assert(vim.iter(H.messages):any(function(m)
  return m.msg:find('kept the change at calc.py:3 (run "calc.py:1-6: fix add and mul"', 1, true) ~= nil
end), vim.inspect(H.messages))

-- The review shows the run's hunks as a diff with their states.
vim.cmd('OllamaAgentReview')
H.wait('the review buffer', function()
  return vim.bo.filetype == 'diff'
end)
local review = H.text(0)
H.log(review)
for _, want_line in ipairs({ '+++ b/calc.py', '@@ h1 · kept · line 3 @@', '-    return a + b', '+    return a * b', '@@ h2 · reverted @@' }) do
  assert(review:find(want_line, 1, true), ('review lacks %q:\n%s'):format(want_line, review))
end
H.done()
