-- :OllamaAgentTranscript shows a markdown buffer that fills while a run streams.
local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup()

local buf = H.open('calc.py')
vim.cmd('OllamaAgentTranscript')
local transcript = require('ollama_agent.transcript')
local tbuf = transcript.buf()
assert(#vim.fn.win_findbuf(tbuf) == 1, 'transcript window not open')
assert(vim.bo[tbuf].filetype == 'markdown', 'transcript is not markdown')
assert(vim.api.nvim_get_current_buf() == buf, 'focus left the code window')

-- The statusline text while the run goes (LspProgress), and after it ends.
local statuses = {}
vim.api.nvim_create_autocmd('LspProgress', {
  callback = function()
    statuses[#statuses + 1] = require('ollama_agent').status()
  end,
})

vim.cmd('2OllamaAgent explain this line')
local result = H.wait_result(1)
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))

local text = table.concat(transcript.lines(), '\n')
H.log(text)
for _, want in ipairs({
  '## ', -- the run's heading
  '> Let me read the file first.', -- thinking, streamed in two pieces, quoted
  '**tool** `', -- the tool call
  'read_file',
  'The function subtracts instead of adding.', -- content, streamed in three pieces
  '**completed**',
}) do
  assert(text:find(want, 1, true), ('transcript lacks %q:\n%s'):format(want, text))
end
assert(statuses[1] and statuses[1]:find('Ollama agent', 1, true), 'no progress: ' .. vim.inspect(statuses))
H.wait('the progress to end', function()
  return require('ollama_agent').status() == ''
end)
-- The window follows the end of the transcript.
local win = vim.fn.win_findbuf(tbuf)[1]
assert(
  vim.api.nvim_win_get_cursor(win)[1] == vim.api.nvim_buf_line_count(tbuf),
  'transcript window does not follow the stream'
)

-- A long command shows once every ten seconds, not at each report; edits show their diff and
-- commands their exit code and duration.
local before = #transcript.lines()
for _, ms in ipairs({ 1000, 2000, 9000 }) do
  transcript.append({ runId = 'x', kind = 'commandRunning', text = '', command = 'pytest', elapsedMs = ms })
end
assert(#transcript.lines() == before, 'a short command printed running lines')
transcript.append({ runId = 'x', kind = 'commandRunning', text = '', command = 'pytest', elapsedMs = 10000 })
transcript.append({ runId = 'x', kind = 'toolResult', text = '$ pytest', ok = false, exitCode = 1, durationMs = 21500 })
transcript.append({ runId = 'x', kind = 'edit', text = 'modify a.py', diff = '@@ -1 +1 @@\n-x\n+y', omittedLines = 3 })
local tail = table.concat(transcript.lines(), '\n')
for _, want in ipairs({ '- running 10 s: `pytest`', 'exit 1 · 21.5 s', '```diff', '-x', '+y', '… 3 more diff lines' }) do
  assert(tail:find(want, 1, true), ('transcript lacks %q:\n%s'):format(want, tail))
end
H.done()
