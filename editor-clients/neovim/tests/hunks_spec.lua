-- Changed regions are marked (DiffChange / DiffAdd highlights, a virtual line for removed lines)
-- and kept or undone one hunk at a time with the keys, the commands and the <Plug> mappings; the
-- user's own edit survives; :OllamaAgentReview shows each hunk's state.
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

local shown = 0
vim.api.nvim_create_autocmd('User', { pattern = 'OllamaAgentChangesShown', callback = function() shown = shown + 1 end })
--- Run `cmd` as the n-th run; wait for its result and for its marks.
local function run(n, cmd)
  vim.cmd(cmd)
  local res = H.wait_result(n)
  assert(res.status == 'completed', 'run status: ' .. vim.inspect(res))
  H.wait('the marks of run ' .. n, function()
    return shown >= n
  end)
  return res
end
run(1, '1,6OllamaAgent fix add and mul')
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
vim.api.nvim_feedkeys('q', 'x', false)
assert(vim.bo.filetype ~= 'diff', 'q did not close the review')

-- A second run drops the note at the top and documents mul: the removed line is a virtual line
-- where it was, the added one is highlighted as an addition.
vim.api.nvim_set_current_win(vim.fn.win_findbuf(buf)[1])
local second = run(2, '%OllamaAgent drop the note and document mul')
local documented = 'def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    """Multiply a and b."""\n    return a + b'
assert(H.text(buf) == documented, 'after the second run:\n' .. H.text(buf))
local marks = vim.api.nvim_buf_get_extmarks(buf, changes.ns, 0, -1, { details = true })
assert(#marks == 2, vim.inspect(marks))
local removed, added = marks[1], marks[2]
assert(removed[2] == 0 and removed[4].virt_lines_above, 'removed line not shown above line 1: ' .. vim.inspect(removed))
local virt = removed[4].virt_lines and removed[4].virt_lines[1]
assert(virt and virt[1][1] == '▁ agent removed 1 line' and virt[1][2] == 'OllamaAgentHunkDelete', vim.inspect(removed))
assert(vim.api.nvim_get_hl(0, { name = 'OllamaAgentHunkDelete' }).link == 'DiffDelete', 'OllamaAgentHunkDelete is not linked to DiffDelete: ' .. vim.inspect(vim.api.nvim_get_hl(0, { name = 'OllamaAgentHunkDelete' })))
assert(added[2] == 5 and added[4].end_row == 6 and added[4].hl_group == 'OllamaAgentHunkAdd', vim.inspect(added))
assert(vim.api.nvim_get_hl(0, { name = 'OllamaAgentHunkAdd' }).link == 'DiffAdd', 'OllamaAgentHunkAdd is not linked to DiffAdd: ' .. vim.inspect(vim.api.nvim_get_hl(0, { name = 'OllamaAgentHunkAdd' })))

-- :OllamaAgentUndoHunk on line 1 puts the note back; the docstring stays, still marked.
vim.api.nvim_win_set_cursor(0, { 1, 0 })
vim.cmd('OllamaAgentUndoHunk')
H.wait('the undo of the removal', function()
  return #done == 3
end)
assert(sent[#sent].command == 'ollamaAgent.revertHunk' and sent[#sent].args.hunkId == 'h1', vim.inspect(sent))
assert(sent[#sent].args.runId == second.runId, vim.inspect(sent[#sent]))
assert(H.text(buf) == '# a note of mine\n' .. documented, 'after undoing the removal:\n' .. H.text(buf))
rows = marked_rows()
assert(#rows == 1 and rows[1].row == 6 and rows[1].hl == 'OllamaAgentHunkAdd', vim.inspect(rows))

-- <Plug>(ollama-agent-keep) on the docstring keeps it: no mark left, the text as it is.
vim.api.nvim_win_set_cursor(0, { 7, 0 })
vim.api.nvim_feedkeys(vim.keycode('<Plug>(ollama-agent-keep)'), 'x', false)
H.wait('the keep of the docstring', function()
  return #done == 4
end)
assert(sent[#sent].command == 'ollamaAgent.keepHunk' and sent[#sent].args.hunkId == 'h2', vim.inspect(sent))
assert(sent[#sent].args.runId == second.runId, vim.inspect(sent[#sent]))
assert(#marked_rows() == 0, vim.inspect(marked_rows()))
assert(H.text(buf) == '# a note of mine\n' .. documented, 'keep changed the text:\n' .. H.text(buf))
H.done()
