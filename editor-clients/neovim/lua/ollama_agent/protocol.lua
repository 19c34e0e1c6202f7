--- Every protocol name the plugin uses, declared once: the server's workspace/executeCommand
--- commands, its notifications, its requests to the client, and the client capabilities the
--- plugin declares. A test compares this table with the server's own list.
local M = {}

--- `workspace/executeCommand` commands of the server, by the plugin's short name.
M.commands = {
  runSelection = 'ollamaAgent.runSelection',
  runSpec = 'ollamaAgent.runSpec',
  implementTodo = 'ollamaAgent.implementTodo',
  cancel = 'ollamaAgent.cancel',
  undoRun = 'ollamaAgent.undoRun',
  listModels = 'ollamaAgent.listModels',
  checkSetup = 'ollamaAgent.checkSetup',
  verifySpec = 'ollamaAgent.verifySpec',
  runTask = 'ollamaAgent.runTask',
  followUp = 'ollamaAgent.followUp',
  listSessions = 'ollamaAgent.listSessions',
  getSession = 'ollamaAgent.getSession',
  runChanges = 'ollamaAgent.runChanges',
  keepHunk = 'ollamaAgent.keepHunk',
  revertHunk = 'ollamaAgent.revertHunk',
}

--- Notifications from the server.
M.notifications = {
  --- {runId, kind, text, ...}: one transcript event of a run.
  transcript = 'ollamaAgent/transcript',
  --- The full result of a run started with `wait = false`.
  runFinished = 'ollamaAgent/runFinished',
}

--- Requests from the server to the client.
M.requests = {
  --- {uris} -> {saved}: write these buffers before a command reads the disk.
  saveDocuments = 'ollamaAgent/saveDocuments',
  --- {runId, sessionId, command, cwd, destructive, reason, timeoutSeconds, outsideSandbox?}
  --- -> {decision}: may the agent run this command?
  approveCommand = 'ollamaAgent/approveCommand',
}

--- Flags under `capabilities.experimental.ollamaAgent` in initialize.
M.capabilities = { saveDocuments = true, approveCommand = true }

--- The answers an approveCommand request takes.
M.decisions = { 'allow', 'allowSession', 'deny', 'allowOutsideSandbox' }

--- The commands that start a run; each takes `wait` (the plugin sends false and follows the
--- run to its runFinished).
M.run_commands = {
  M.commands.runSelection,
  M.commands.runSpec,
  M.commands.implementTodo,
  M.commands.runTask,
  M.commands.followUp,
  M.commands.verifySpec,
}

return M
