-- :checkhealth ollama_agent: OK with Ollama up, an error with it down (expectation in argv).
local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup()
local expect = assert(_G.arg[1], 'pass "up" or "down"')

vim.cmd('checkhealth ollama_agent')
local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
H.log(text)
assert(text:find('server: ', 1, true), 'no server version line')
if expect == 'up' then
  assert(text:find('Ollama reachable at ' .. H.ollama_url, 1, true), 'Ollama not reported OK')
  assert(text:find('model qwen3:8b is installed', 1, true), 'model not reported OK')
  assert(not text:find('ERROR', 1, true), 'unexpected ERROR in health report')
else
  assert(text:find('ERROR', 1, true), 'no ERROR in health report')
  assert(text:find('not reachable', 1, true), 'unreachable Ollama not reported')
  -- Each sentence once: not as ERROR and again as its ADVICE, nor again as a warning.
  for sentence in text:gmatch('ERROR ([^\n]+)') do
    local _, count = text:gsub(vim.pesc(sentence:sub(1, 40)), '')
    assert(count == 1, ('said %d times: %s\n%s'):format(count, sentence, text))
  end
end
H.done()
