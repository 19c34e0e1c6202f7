-- Prints, as JSON, the commands, <Plug> mappings and option paths the plugin defines (for the
-- test that the help documents each).
vim.opt.runtimepath:prepend(vim.env.OLLAMA_AGENT_PLUGIN_DIR)
vim.cmd('runtime plugin/ollama_agent.lua')
local out = { commands = {}, plugs = {}, options = {} }
for name in pairs(vim.api.nvim_get_commands({})) do
  if name:find('^OllamaAgent') then table.insert(out.commands, name) end
end
for _, mode in ipairs({ 'n', 'x' }) do
  for _, m in ipairs(vim.api.nvim_get_keymap(mode)) do
    if m.lhs:find('<Plug>%(ollama%-agent') then table.insert(out.plugs, m.lhs) end
  end
end
local function walk(t, prefix)
  for k, v in pairs(t) do
    local path = prefix .. k
    table.insert(out.options, path)
    if type(v) == 'table' and not vim.islist(v) then walk(v, path .. '.') end
  end
end
walk(require('ollama_agent.config').defaults, '')
for _, k in ipairs({ 'cmd', 'cmd_env', 'filetypes', 'model', 'ollama_url', 'apply_mode', 'command_approval' }) do
  table.insert(out.options, k)
end
io.stdout:write(vim.json.encode(out))
