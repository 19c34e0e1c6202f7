-- A first Neovim: one run, whose sessionId the test reads from the output.
local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup()
H.open('calc.py')
vim.cmd('1,2OllamaAgent fix add')
local result = H.wait_result(1)
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))
io.stdout:write('SESSION ' .. result.sessionId .. '\n')
H.done()
