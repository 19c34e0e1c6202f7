local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup()
local buf = H.open('calc.py')
local client_mod = require('ollama_agent.client')
local sent = {}
local hunks = {
  { id = 'h1', old = '    return a - b', new = '    return a + b', state = 'pending' },
  { id = 'h2', old = '    return a + b', new = '    return a * b', state = 'pending' },
}
local function find(h)
  for i, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if line == h.new then
      return i - 1
    end
  end
end
local real = client_mod.execute_command
client_mod.execute_command = function(client, command, args, handler, bufnr)
  local c = require('ollama_agent.protocol').commands
  if command ~= c.runChanges and command ~= c.keepHunk and command ~= c.revertHunk then
    return real(client, command, args, handler, bufnr)
  end
  sent[#sent + 1] = { command = command, args = args }
  vim.schedule(function()
    if command == c.keepHunk or command == c.revertHunk then
      for _, h in ipairs(hunks) do
        if h.id == args.hunkId then
          if command == c.revertHunk then
            local row = find(h)
            vim.lsp.util.apply_workspace_edit({ changes = { [args.uri] = { {
              range = { start = { line = row, character = 0 }, ['end'] = { line = row + 1, character = 0 } },
              newText = h.old .. '\n',
            } } } }, 'utf-16')
          end
          h.state = command == c.keepHunk and 'kept' or 'reverted'
        end
      end
      handler(nil, vim.empty_dict())
      return
    end
    local out = {}
    for _, h in ipairs(hunks) do
      local row = h.state ~= 'reverted' and find(h) or nil
      out[#out + 1] = {
        id = h.id,
        state = h.state,
        oldText = h.old .. '\n',
        newText = h.new .. '\n',
        range = row and { start = { line = row, character = 0 }, ['end'] = { line = row + 1, character = 0 } } or vim.NIL,
      }
    end
    handler(nil, { { uri = vim.uri_from_bufnr(buf), hunks = out } })
  end)
  return true, 1
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
assert(sent[#sent - 1].command == 'ollamaAgent.revertHunk' and sent[#sent - 1].args.hunkId == 'h2', vim.inspect(sent))
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
assert(sent[#sent - 1].args.hunkId == 'h1' and sent[#sent - 1].command == 'ollamaAgent.keepHunk', vim.inspect(sent))
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
