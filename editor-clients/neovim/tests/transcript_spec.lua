-- The transcript and the chat draw a run cleanly: no raw markdown markers, tool names as plain
-- text, thinking folded, one block per tool call with its result, diffs highlighted; the
-- statusline shows progress while the run goes and is empty once it ended.
local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup()

local buf = H.open('calc.py')
vim.o.statusline = '%{v:lua.require("ollama_agent").status()}'
vim.o.laststatus = 2
vim.cmd('OllamaAgentTranscript')
local transcript = require('ollama_agent.transcript')
local tbuf = transcript.buf()
assert(#vim.fn.win_findbuf(tbuf) == 1, 'transcript window not open')
assert(vim.api.nvim_get_current_buf() == buf, 'focus left the code window')

local statuses, at_end = {}, nil
vim.api.nvim_create_autocmd('LspProgress', {
  callback = function()
    statuses[#statuses + 1] = require('ollama_agent').status()
  end,
})
vim.api.nvim_create_autocmd('User', {
  pattern = 'OllamaAgentRunDone',
  callback = function()
    at_end = vim.api.nvim_eval_statusline(vim.o.statusline, {}).str
  end,
})

vim.cmd('2OllamaAgent explain this line')
local result = H.wait_result(1)
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))

-- The statusline is empty the moment the run's result is in (not at some later redraw).
assert(vim.iter(statuses):any(function(s)
  return s:find('Ollama agent', 1, true) ~= nil
end), 'no progress while running: ' .. vim.inspect(statuses))
assert(at_end == '', 'statusline at the end of the run: ' .. vim.inspect(at_end))

local chat = require('ollama_agent.chat')
local cbuf = chat.shown().view.buf
for name, b in pairs({ transcript = tbuf, chat = cbuf }) do
  local lines = vim.api.nvim_buf_get_lines(b, 0, -1, false)
  local text = table.concat(lines, '\n')
  H.log('--- ' .. name .. ' ---\n' .. text)
  for _, want in ipairs({
    'Let me read the file first.', -- thinking, streamed in two pieces
    '⚙ read_file calc.py', -- the tool call, its name as plain text
    'The function subtracts instead of adding.', -- content, streamed in three pieces
    '✓ completed',
  }) do
    assert(text:find(want, 1, true), ('%s lacks %q:\n%s'):format(name, want, text))
  end
  for _, raw in ipairs({ '**', '```', '`read_file', '(failed)' }) do
    assert(not text:find(raw, 1, true), ('%s shows raw markdown %q:\n%s'):format(name, raw, text))
  end
  -- Treesitter markdown draws it; Vim's regex markdown syntax (which paints `_` as an error) never.
  assert(vim.treesitter.highlighter.active[b] ~= nil, name .. ' is not drawn by treesitter')
  assert(vim.bo[b].syntax ~= 'markdown', name .. ' uses the regex markdown syntax')
  -- The result sits right under its call.
  for i, line in ipairs(lines) do
    if line == '⚙ read_file calc.py' then
      assert(vim.startswith(lines[i + 1], '  ✓ '), name .. ': no result under the call: ' .. lines[i + 1])
    end
  end
end

-- Thinking is folded in the chat's window.
local cwin = chat.windows()
assert(cwin, 'the chat did not open on the run')
local think_row
for i, line in ipairs(vim.api.nvim_buf_get_lines(cbuf, 0, -1, false)) do
  if line:find('Let me read', 1, true) then
    think_row = i
  end
end
vim.api.nvim_win_call(cwin, function()
  assert(vim.fn.foldclosed(think_row) ~= -1, 'thinking is not folded')
  assert(vim.fn.foldclosed(vim.api.nvim_buf_line_count(cbuf)) == -1, 'the end of the run is folded')
  H.log('foldtext: ' .. vim.fn.foldtextresult(think_row))
  assert(vim.fn.foldtextresult(think_row):find('thinking', 1, true), vim.fn.foldtextresult(think_row))
end)

-- A long command shows once every ten seconds; a failed result says so with its exit code, an
-- edit shows its diff with the omitted lines counted and its lines highlighted.
local before = #transcript.lines()
for _, ms in ipairs({ 1000, 2000, 9000 }) do
  transcript.append({ runId = 'x', kind = 'commandRunning', text = '', command = 'pytest', elapsedMs = ms })
end
assert(#transcript.lines() == before, 'a short command printed running lines')
transcript.append({ runId = 'x', kind = 'toolCall', text = 'run_command pytest', name = 'run_command', callId = 'c1' })
transcript.append({ runId = 'x', kind = 'commandRunning', text = '', command = 'pytest', elapsedMs = 10000, callId = 'c1' })
transcript.append({ runId = 'x', kind = 'toolResult', text = '$ pytest\n1 failed', ok = false, exitCode = 1, durationMs = 21500, callId = 'c1' })
transcript.append({ runId = 'x', kind = 'edit', text = 'modify a.py', diff = '--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n', omittedLines = 3 })
local tail = table.concat(transcript.lines(), '\n')
for _, want in ipairs({ '… running 10 s: pytest', '  ✗ exit 1 · 21.5 s · $ pytest', '    -x', '    +y', '… 3 more diff lines' }) do
  assert(tail:find(want, 1, true), ('transcript lacks %q:\n%s'):format(want, tail))
end
local groups = {}
for _, m in ipairs(vim.api.nvim_buf_get_extmarks(tbuf, require('ollama_agent.view').ns, 0, -1, { details = true })) do
  groups[m[4].hl_group or ''] = true
end
for _, g in ipairs({ 'OllamaAgentChatDiffAdd', 'OllamaAgentChatDiffDelete', 'OllamaAgentChatToolFailed' }) do
  assert(groups[g], 'no ' .. g .. ' highlight: ' .. vim.inspect(groups))
end
H.done()
