-- :OllamaAgentCancel stops a run whose model never finishes; the buffer stays as it was.
local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup()

local buf = H.open('calc.py')
local before = H.text(buf)

vim.cmd('1,2OllamaAgent rewrite this slowly')
local commands = require('ollama_agent.commands')
H.wait('the run to start streaming', function()
  local lines = require('ollama_agent.transcript').lines()
  return table.concat(lines, '\n'):find('Still thinking', 1, true) ~= nil
end)
assert(#H.results == 0, 'run ended before cancel: ' .. vim.inspect(H.results))

vim.cmd('OllamaAgentCancel')
local result = H.wait_result(1)
assert(result.status == 'cancelled', 'run status: ' .. vim.inspect(result))
assert(next(commands.pending) == nil, 'a run is still pending')
assert(H.text(buf) == before, 'buffer changed by a cancelled run')
H.done()
