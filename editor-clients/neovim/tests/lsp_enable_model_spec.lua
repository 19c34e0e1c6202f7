-- Neovim 0.11's vim.lsp.enable('ollama_agent') starts the server from lsp/ollama_agent.lua, with
-- vim.lsp.config overrides; :OllamaAgentModel lists the models with separated fields, the current
-- one marked and those without tool calling flagged, and picks the model the next run uses.
local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup()
vim.lsp.config('ollama_agent', {
  cmd = H.server_cmd,
  settings = { ollamaAgent = { ollamaUrl = H.ollama_url, model = 'qwen3:8b' } },
  init_options = { ollamaUrl = H.ollama_url, model = 'qwen3:8b' },
})
vim.lsp.enable('ollama_agent')

local buf, client = H.open('calc.py')
assert(client.config.capabilities.experimental.ollamaAgent.saveDocuments == true)

local pick = 'deepseek-r1:8b'
local selects = H.answer_select(function(item)
  return item.name == pick
end)
vim.cmd('OllamaAgentModel')
H.wait('the model list', function()
  return #selects > 0
end)
local offered = vim.tbl_map(selects[1].opts.format_item, selects[1].items)
for _, want in ipairs({
  'qwen3:8b · completion, tools, thinking · ctx 40960  (current)',
  'llama3.1:8b · completion, tools · ctx 131072',
  'deepseek-r1:8b · completion, thinking · ctx 131072 · no tool calling',
}) do
  assert(vim.tbl_contains(offered, want), ('no %q in %s'):format(want, vim.inspect(offered)))
end
assert(require('ollama_agent.commands').model == pick)
-- Choosing a model without tools warns what that means, not just "model ...".
local said = H.messages[#H.messages]
assert(said.level == vim.log.levels.WARN and said.msg:find('does not advertise tool calling', 1, true), vim.inspect(said))

-- Then the next pick is marked current, and a tools model is chosen for the run.
pick = 'llama3.1:8b'
vim.cmd('OllamaAgentModel')
H.wait('the second model list', function()
  return #selects > 1
end)
offered = vim.tbl_map(selects[2].opts.format_item, selects[2].items)
assert(vim.tbl_contains(offered, 'deepseek-r1:8b · completion, thinking · ctx 131072 · no tool calling  (current)'), vim.inspect(offered))
assert(H.messages[#H.messages].msg == 'Ollama agent: runs now use llama3.1:8b', vim.inspect(H.messages[#H.messages]))

vim.cmd('2OllamaAgent explain')
local result = H.wait_result(1)
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))
assert(H.text(buf):find('return a - b', 1, true), 'buffer changed')
H.done()
