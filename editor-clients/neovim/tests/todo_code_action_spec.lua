-- The TODO code action is offered by vim.lsp.buf.code_action() and its run edits the buffer. The
-- action answers at once (wait = false): its result comes as ollamaAgent/runFinished.
local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup()

local buf = H.open('greet.py')
vim.api.nvim_win_set_cursor(0, { 2, 4 })

local titles = {}
vim.lsp.buf.code_action({
  apply = true,
  filter = function(action)
    titles[#titles + 1] = action.title
    return action.title:find('TODO', 1, true) ~= nil
  end,
})

H.wait('the TODO to be implemented in the buffer', function()
  return H.text(buf):find('Hello, ', 1, true) ~= nil
end)
local result = H.wait_result(1)
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))
assert(result.command == 'ollamaAgent.implementTodo', 'ran ' .. tostring(result.command))
-- Only the full result has todoRemoved (the immediate answer is {runId, status = 'running'}).
assert(result.todoRemoved == true, 'result: ' .. vim.inspect(result))
assert(next(require('ollama_agent.commands').following) == nil, 'a run is still followed')
assert(vim.tbl_contains(titles, 'Implement TODO with Ollama agent'), vim.inspect(titles))
assert(not H.text(buf):find('TODO', 1, true), 'TODO comment still there:\n' .. H.text(buf))
H.done()
