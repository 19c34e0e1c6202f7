-- :help ollama-agent and the command tags resolve once helptags has run (as plugin managers do).
local plugin = assert(vim.env.OLLAMA_AGENT_PLUGIN_DIR, 'OLLAMA_AGENT_PLUGIN_DIR is not set')
local copy = vim.fn.tempname()
vim.fn.mkdir(copy .. '/doc', 'p')
vim.fn.writefile(vim.fn.readfile(plugin .. '/doc/ollama-agent.txt'), copy .. '/doc/ollama-agent.txt')
vim.opt.runtimepath:prepend(copy)
vim.cmd('helptags ' .. vim.fn.fnameescape(copy .. '/doc'))
for _, tag in ipairs({
  'ollama-agent',
  'ollama-agent-options',
  ':OllamaAgent',
  ':OllamaAgentSpec',
  ':OllamaAgentTodo',
  ':OllamaAgentCancel',
  ':OllamaAgentUndo',
  ':OllamaAgentModel',
  ':OllamaAgentTranscript',
  ':OllamaAgentChat',
  ':OllamaAgentSessions',
  ':OllamaAgentReview',
  'ollama-agent-chat',
  '<Plug>(ollama-agent-selection)',
}) do
  vim.cmd('help ' .. tag)
  assert(vim.fn.expand('%:t') == 'ollama-agent.txt', 'help ' .. tag .. ' opened ' .. vim.fn.expand('%'))
  vim.cmd('close')
end
io.stdout:write('OK\n')
vim.cmd('qall!')
