--- A conversation drawn into a view: the user's messages, each run's thinking (folded), answers
--- (markdown), one block per tool call with its result's summary, diffs for edits, approvals and
--- the end of each run. Fed with transcript events as they stream, or with a stored session.
local view_mod = require('ollama_agent.view')

local M = {}

--- Highlight groups, each linked to a standard group unless the colour scheme sets it.
M.groups = {
  OllamaAgentChatUser = 'Title',
  OllamaAgentChatAgent = 'Function',
  OllamaAgentChatMeta = 'Comment',
  OllamaAgentChatThinking = 'Comment',
  OllamaAgentChatTool = 'Special',
  OllamaAgentChatToolOk = 'DiagnosticOk',
  OllamaAgentChatToolFailed = 'DiagnosticError',
  OllamaAgentChatDiffAdd = 'Added',
  OllamaAgentChatDiffDelete = 'Removed',
  OllamaAgentChatDiffHunk = 'Changed',
  OllamaAgentChatWarning = 'DiagnosticWarn',
  OllamaAgentChatError = 'DiagnosticError',
  OllamaAgentChatApproval = 'DiagnosticWarn',
  OllamaAgentChatKey = 'Special',
}

--- Define the highlight groups (default links; a colour scheme's own definitions win).
function M.define_highlights()
  for group, link in pairs(M.groups) do
    vim.api.nvim_set_hl(0, group, { link = link, default = true })
  end
end

local DIFF_INDENT = '    '

local function first_line(text)
  text = tostring(text or '')
  local line = (text:match('^[^\n]*') or ''):gsub('\t', '  ')
  line = vim.trim(line)
  if #line > 120 then
    line = vim.fn.strcharpart(line, 0, 119) .. '…'
  end
  return line
end

local function short(run_id)
  return tostring(run_id or '?'):sub(1, 8)
end

local function str(v)
  return type(v) == 'string' and v or nil
end

--- Lines of a unified diff as an indented block, each highlighted by what it does.
--- @param diff string
--- @param omitted integer|nil
--- @return string[], table[]
local function diff_lines(diff, omitted)
  local lines, hl = { '' }, {}
  for _, line in ipairs(vim.split(diff:gsub('\n$', ''), '\n', { plain = true })) do
    local row = #lines
    lines[#lines + 1] = DIFF_INDENT .. line
    local group
    if vim.startswith(line, '+++') or vim.startswith(line, '---') then
      group = 'OllamaAgentChatMeta'
    elseif vim.startswith(line, '+') then
      group = 'OllamaAgentChatDiffAdd'
    elseif vim.startswith(line, '-') then
      group = 'OllamaAgentChatDiffDelete'
    elseif vim.startswith(line, '@@') then
      group = 'OllamaAgentChatDiffHunk'
    end
    if group then
      hl[#hl + 1] = { row, #DIFF_INDENT, -1, group }
    end
  end
  if type(omitted) == 'number' and omitted > 0 then
    hl[#hl + 1] = { #lines, 0, -1, 'OllamaAgentChatMeta' }
    lines[#lines + 1] = ('%s… %d more diff lines'):format(DIFF_INDENT, omitted)
  end
  lines[#lines + 1] = ''
  return lines, hl
end

--- The summary of a tool call as the server writes it (`name detail`), from a stored call.
--- @param name string
--- @param args table|nil
--- @return string
function M.call_summary(name, args)
  args = type(args) == 'table' and args or {}
  local detail = str(args.path) or str(args.command) or str(args.regex)
  if detail == nil and next(args) ~= nil then
    detail = vim.json.encode(args)
  end
  return vim.trim(name .. ' ' .. first_line(detail or ''))
end

--- @class ollama_agent.Conversation
--- @field view ollama_agent.View
local Conversation = {}
Conversation.__index = Conversation

--- A conversation drawn into `view`.
--- @param view ollama_agent.View
--- @return ollama_agent.Conversation
function M.new(view)
  return setmetatable({
    view = view,
    stream = nil, -- {kind, run, fold = id, span = id, srow}
    calls = {}, -- callId -> {mark = extmark at the block's last row, diff = shown?}
    open_call = nil, -- callId of the last call without a result yet
    last_run = nil,
  }, Conversation)
end

local call_ns = vim.api.nvim_create_namespace('ollama_agent_calls')

--- Append a block and end any stream.
function Conversation:add(block)
  self.stream = nil
  return self.view:put(block)
end

--- The row a call's block ends on now.
function Conversation:call_end(call)
  local pos = vim.api.nvim_buf_get_extmark_by_id(self.view.buf, call_ns, call.mark, {})
  return pos[1]
end

--- Put `block` at the end of call `call_id`'s block (at the end when the call is unknown).
function Conversation:add_to_call(call_id, block)
  local call = call_id and self.calls[call_id]
  if not call then
    return self:add(block)
  end
  local last_row = vim.api.nvim_buf_line_count(self.view.buf) - 1
  local at = self:call_end(call) + 1
  local srow, erow
  if at > last_row then
    srow, erow = self:add(block)
  else
    srow, erow = self.view:put(block, at)
  end
  vim.api.nvim_buf_set_extmark(self.view.buf, call_ns, erow, 0, { id = call.mark })
  return srow, erow
end

--- The user's message: a heading, then the text; context the server added after the first
--- paragraph (the selected lines, the file) folded.
--- @param text string
function Conversation:user(text)
  text = vim.trim(tostring(text or ''):gsub('^Task: ', ''))
  local body = vim.split(text, '\n', { plain = true })
  local lines = { '', 'You', '' }
  local hl = { { 1, 0, -1, 'OllamaAgentChatUser' } }
  local para_end = #body
  for i, line in ipairs(body) do
    if vim.trim(line) == '' then
      para_end = i - 1
      break
    end
  end
  for i = 1, para_end do
    lines[#lines + 1] = body[i]
  end
  local block = { lines = lines, hl = hl }
  if para_end < #body then
    local srow = #lines
    for i = para_end + 1, #body do
      lines[#lines + 1] = DIFF_INDENT .. body[i]
    end
    block.fold = { srow, #lines - 1, 'context the agent was given' }
  end
  if self.view:is_empty() then
    table.remove(lines, 1)
    for _, h in ipairs(hl) do
      h[1] = h[1] - 1
    end
    if block.fold then
      block.fold[1], block.fold[2] = block.fold[1] - 1, block.fold[2] - 1
    end
  end
  self:add(block)
end

--- The heading of the agent's turn.
function Conversation:agent_heading(model, label)
  local head = 'Agent'
  local meta = {}
  if str(model) then
    meta[#meta + 1] = model
  end
  if str(label) and label ~= '' then
    meta[#meta + 1] = label
  end
  local line = head .. (#meta > 0 and (' · ' .. table.concat(meta, ' · ')) or '')
  local lines = { '', line, '' }
  if self.view:is_empty() then
    table.remove(lines, 1)
  end
  local row = #lines - 2
  self:add({
    lines = lines,
    hl = { { row, 0, #head, 'OllamaAgentChatAgent' }, { row, #head, -1, 'OllamaAgentChatMeta' } },
  })
end

--- Streamed thinking (folded, dimmed) or answer text (markdown).
--- @param kind 'thinking'|'content'
--- @param run string|nil
--- @param text string
function Conversation:delta(kind, run, text)
  local s = self.stream
  if not s or s.kind ~= kind or s.run ~= run then
    if kind == 'thinking' then
      local srow = self:add({ lines = { '' } })
      s = { kind = kind, run = run, srow = srow }
      s.fold = self.view:fold(srow, srow, 'thinking')
      s.span = self.view:span(nil, srow, srow, 'OllamaAgentChatThinking')
    else
      local srow = self:add({ lines = { '', '' } })
      s = { kind = kind, run = run, srow = srow + 1 }
    end
    self.stream = s
  end
  local _, erow = self.view:stream(text, '')
  if kind == 'thinking' then
    self.view:extend_fold(s.fold, s.srow, erow)
    self.view:span(s.span, s.srow, erow, 'OllamaAgentChatThinking')
  end
end

--- A tool call: its own block, headed by the tool's name.
function Conversation:tool_call(call_id, summary, name)
  summary = first_line(summary)
  name = str(name) or summary:match('^%S+') or 'tool'
  local rest = summary:sub(#name + 1)
  local line = '⚙ ' .. name .. rest
  local srow = self:add({
    lines = { '', line },
    hl = { { 1, 0, #'⚙ ' + #name, 'OllamaAgentChatTool' } },
  })
  if call_id then
    local mark = vim.api.nvim_buf_set_extmark(self.view.buf, call_ns, srow + 1, 0, {})
    self.calls[call_id] = { mark = mark }
    self.open_call = call_id
  end
end

--- A tool's result: one line under its call (✓ or ✗, the first line of what it returned, a
--- command's exit code and time), and the diff of what it changed when no edit showed it.
--- @param p table the toolResult event (or a stored tool message as {text, ok})
function Conversation:tool_result(p)
  local ok = p.ok ~= false
  local mark = ok and '✓ ' or '✗ '
  local parts = {}
  if type(p.exitCode) == 'number' or p.timedOut == true then
    parts[#parts + 1] = p.timedOut == true and 'timed out' or ('exit %d'):format(p.exitCode)
    if type(p.durationMs) == 'number' then
      parts[#parts + 1] = ('%.1f s'):format(p.durationMs / 1000)
    end
  end
  local summary = first_line(p.text)
  if summary ~= '' then
    parts[#parts + 1] = summary
  end
  local line = '  ' .. mark .. table.concat(parts, ' · ')
  local block = {
    lines = { line },
    hl = { { 0, 2, -1, ok and 'OllamaAgentChatToolOk' or 'OllamaAgentChatToolFailed' } },
  }
  local call = p.callId and self.calls[p.callId]
  if str(p.diff) and p.diff ~= '' and not (call and call.diff) then
    local dl, dh = diff_lines(p.diff, p.omittedLines)
    for _, h in ipairs(dh) do
      h[1] = h[1] + #block.lines
      block.hl[#block.hl + 1] = h
    end
    vim.list_extend(block.lines, dl)
  end
  self:add_to_call(p.callId, block)
  if self.open_call == p.callId then
    self.open_call = nil
  end
end

--- A file the run changed: under the open tool call, with its diff.
function Conversation:edit(p)
  local block = { lines = { '  ✎ ' .. first_line(p.text) }, hl = { { 0, 2, -1, 'OllamaAgentChatMeta' } } }
  local shown = false
  if str(p.diff) and p.diff ~= '' then
    local dl, dh = diff_lines(p.diff, p.omittedLines)
    for _, h in ipairs(dh) do
      h[1] = h[1] + 1
      block.hl[#block.hl + 1] = h
    end
    vim.list_extend(block.lines, dl)
    shown = true
  end
  local call_id = self.open_call
  self:add_to_call(call_id, block)
  if call_id and shown then
    self.calls[call_id].diff = true
  end
end

--- A long command: one line every ten seconds.
function Conversation:command_running(p)
  local seconds = math.floor((tonumber(p.elapsedMs) or 0) / 1000 + 0.5)
  if seconds >= 10 and seconds % 10 == 0 then
    self:add_to_call(p.callId, {
      lines = { ('  … running %d s: %s'):format(seconds, first_line(p.command)) },
      hl = { { 0, 0, -1, 'OllamaAgentChatMeta' } },
    })
  end
end

--- A warning or error of the run.
function Conversation:notice(kind, text)
  local mark = kind == 'error' and '✗ ' or '⚠ '
  local group = kind == 'error' and 'OllamaAgentChatError' or 'OllamaAgentChatWarning'
  local lines = { '', mark .. first_line(text) }
  for i, line in ipairs(vim.split(tostring(text or ''), '\n', { plain = true })) do
    if i > 1 then
      lines[#lines + 1] = '  ' .. line
    end
  end
  self:add({ lines = lines, hl = { { 1, 0, -1, group } } })
end

--- The end of a run: status, turns, summary.
function Conversation:finished(p)
  local status = str(p.status) or 'finished'
  local mark = status == 'completed' and '✓ ' or (status == 'cancelled' and '■ ' or '✗ ')
  local group = status == 'completed' and 'OllamaAgentChatToolOk'
    or (status == 'cancelled' and 'OllamaAgentChatWarning' or 'OllamaAgentChatError')
  local parts = { status }
  if type(p.turns) == 'number' then
    parts[#parts + 1] = ('%d turn%s'):format(p.turns, p.turns == 1 and '' or 's')
  end
  local line = mark .. table.concat(parts, ' · ')
  local summary = first_line(p.text or p.summary)
  if summary ~= '' then
    line = line .. ': ' .. summary
  end
  self:add({ lines = { '', line }, hl = { { 1, 0, #mark + #status, group } } })
  self.calls, self.open_call = {}, nil
end

--- One `ollamaAgent/transcript` event.
--- @param p table
function Conversation:event(p)
  local kind = p.kind
  local text = p.text
  if text == vim.NIL or text == nil then
    text = ''
  end
  if kind == 'thinking' or kind == 'content' then
    self:delta(kind, p.runId, text)
  elseif kind == 'started' then
    self:agent_heading(p.model, text)
    self.last_run = p.runId
  elseif kind == 'toolCall' then
    self:tool_call(p.callId, text, p.name)
  elseif kind == 'toolResult' then
    self:tool_result(vim.tbl_extend('force', p, { text = text }))
  elseif kind == 'commandRunning' then
    self:command_running(p)
  elseif kind == 'edit' then
    self:edit(vim.tbl_extend('force', p, { text = text }))
  elseif kind == 'warning' or kind == 'error' then
    self:notice(kind, text)
  elseif kind == 'finished' then
    self:finished(vim.tbl_extend('force', p, { text = text }))
  else
    self:add({ lines = { ('[%s] %s'):format(tostring(kind), first_line(text)) } })
  end
end

--- A stored session (ollamaAgent.getSession): its messages as the conversation went.
--- @param session table {messages = {{role, text, thinking?, toolCalls?, toolName?, callId?}}}
function Conversation:history(session)
  local in_turn = false
  for _, m in ipairs(session.messages or {}) do
    if m.role == 'user' then
      self:user(m.text)
      in_turn = false
    elseif m.role == 'assistant' then
      if not in_turn then
        self:agent_heading(session.model, nil)
        in_turn = true
      end
      if str(m.thinking) and m.thinking ~= '' then
        self:delta('thinking', nil, m.thinking)
      end
      if str(m.text) and vim.trim(m.text) ~= '' then
        self:delta('content', nil, vim.trim(m.text))
      end
      for _, c in ipairs(m.toolCalls or {}) do
        self:tool_call(c.callId, M.call_summary(c.name, c.arguments), c.name)
      end
    elseif m.role == 'tool' then
      local text = tostring(m.text or '')
      local failed = text:match('^Error') or text:match('^Failed') or text:match('^Denied')
      self:tool_result({ callId = m.callId, text = text, ok = not failed })
    end
  end
  local runs = session.runs or {}
  local last = runs[#runs]
  if last and last.status then
    self:finished({ status = last.status, summary = last.summary })
  end
end

--- An approval question: the command, where, why, and the keys that answer it.
--- @param params table the approveCommand params
--- @param keys table<string, string|false> decision -> key
--- @return integer row of the line that the answer replaces
function Conversation:approval(params, keys)
  local outside = params.outsideSandbox == true
  local head = outside and '⚠ The sandbox blocked a command: ' or '⚠ Run this command? '
  local lines = { '', head .. tostring(params.command or '') }
  local hl = { { 1, 0, #head, 'OllamaAgentChatApproval' } }
  local where = '  in ' .. tostring(params.cwd or '?')
  if params.destructive == true then
    where = where .. ' · DESTRUCTIVE'
  end
  lines[#lines + 1] = where
  hl[#hl + 1] = { 2, 0, -1, params.destructive == true and 'OllamaAgentChatError' or 'OllamaAgentChatMeta' }
  if str(params.reason) and params.reason ~= '' then
    lines[#lines + 1] = '  ' .. first_line(params.reason)
    hl[#hl + 1] = { #lines - 1, 0, -1, 'OllamaAgentChatMeta' }
  end
  local choices = outside and { { 'allowOutsideSandbox', 'run outside the sandbox once' }, { 'deny', 'keep it blocked' } }
    or { { 'allow', 'allow' }, { 'allowSession', 'allow for this session' }, { 'deny', 'deny' } }
  local parts, spans, col = {}, {}, 2
  for _, choice in ipairs(choices) do
    local key = keys[choice[1]]
    local label = key and ('[%s] %s'):format(key, choice[2]) or (':OllamaAgentApprove ' .. choice[1])
    spans[#spans + 1] = { col, col + (key and #key + 2 or #label) }
    parts[#parts + 1] = label
    col = col + #label + 3
  end
  local row = #lines
  lines[#lines + 1] = '  ' .. table.concat(parts, '   ')
  for _, sp in ipairs(spans) do
    hl[#hl + 1] = { row, sp[1], sp[2], 'OllamaAgentChatKey' }
  end
  if type(params.timeoutSeconds) == 'number' then
    lines[#lines + 1] = ('  (not run if there is no answer within %d s)'):format(params.timeoutSeconds)
    hl[#hl + 1] = { #lines - 1, 0, -1, 'OllamaAgentChatMeta' }
  end
  local srow = self:add({ lines = lines, hl = hl })
  return srow + row
end

local answered = {
  allow = '→ allowed',
  allowSession = '→ allowed for the rest of this session',
  deny = '→ denied',
  allowOutsideSandbox = '→ run outside the sandbox once',
}

--- Show how an approval was answered, on the row of its keys.
--- @param row integer
--- @param decision string|nil nil: nobody answered in time
--- @param outside boolean|nil
function Conversation:answered(row, decision, outside)
  local text = decision and answered[decision] or '→ no answer in time: not run'
  if decision == 'deny' and outside then
    text = '→ kept blocked'
  end
  local group = (decision == 'deny' or decision == nil) and 'OllamaAgentChatWarning' or 'OllamaAgentChatToolOk'
  self.view:set_line(row, '  ' .. text, group, 2)
end

M.Conversation = Conversation
return M
