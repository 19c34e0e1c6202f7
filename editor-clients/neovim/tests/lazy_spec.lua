local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
-- The README's lazy.nvim spec, loaded the way lazy.nvim loads a `dir` plugin (lazy.nvim itself
-- is not installable here): the folder on the runtimepath, its plugin/ files sourced, then
-- config(plugin, opts). The agent must then attach to a file and run.
local readme = table.concat(vim.fn.readfile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/README.md'), '\n')
local code = assert(readme:match('```lua\n(%-%- lazy.nvim.-)```'), 'no lazy.nvim spec in the README')
code = code:gsub('/path/to/ollama%-agent%-ls/editor%-clients/neovim', vim.env.OLLAMA_AGENT_PLUGIN_DIR)
local spec = assert(loadstring('return ' .. code:gsub('^%-%-[^\n]*\n', '')))()
spec.opts = vim.tbl_deep_extend('force', spec.opts or {}, {
  cmd = H.server_cmd, ollama_url = H.ollama_url, model = 'qwen3:8b',
})
vim.opt.runtimepath:prepend(spec.dir)
for _, f in ipairs(vim.fn.glob(spec.dir .. '/plugin/**/*.lua', false, true)) do
  vim.cmd.source(f)
end
spec.config({ dir = spec.dir }, spec.opts)
vim.cmd.cd(H.workspace)
vim.notify = function(msg, level)
  H.messages[#H.messages + 1] = { msg = msg, level = level }
end
local buf = H.open('calc.py')
vim.cmd('2OllamaAgent explain')
local result = H.wait_result(1)
assert(result.status == 'completed', vim.inspect(result))
H.done()
