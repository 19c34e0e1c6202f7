--- The chat: one conversation buffer per session, an input area under it, follow-ups, cancel,
--- approvals answered in place, and resuming a stored session.
local config = require('ollama_agent.config')
local protocol = require('ollama_agent.protocol')
local render = require('ollama_agent.render')
local view_mod = require('ollama_agent.view')

local M = {}

--- Sessions the chat knows, by sessionId: {id, conv, title, model, running, client_id}.
M.sessions = {}
--- The session of each run, by runId.
M.run_session = {}
--- The session the chat shows and sends to (nil: a new chat whose first message starts one).
M.current = nil
--- Events of runs whose session is not known yet, by runId.
local unrouted = {}
--- The approval waiting for an answer, by sessionId: {row, reply, params, timer}.
M.approvals = {}

local ui = { chat = nil, input = nil, input_buf = nil, draft = nil }

local function opts()
  return config.options.chat
end

local function notify(msg, level)
  vim.notify('Ollama agent: ' .. msg, level or vim.log.levels.INFO)
end

--- A session's entry, made (with an empty conversation) on first use.
--- @param id string
--- @param adopt boolean|nil take over the new chat's conversation (its first message started it)
--- @return table
function M.session(id, adopt)
  local s = M.sessions[id]
  if not s then
    render.define_highlights()
    local conv
    if adopt and ui.draft and vim.api.nvim_buf_is_valid(ui.draft.view.buf) then
      -- The first message of a new chat started this session: it keeps its buffer.
      conv, ui.draft = ui.draft, nil
      pcall(vim.api.nvim_buf_set_name, conv.view.buf, 'ollama-agent://chat/' .. id)
    else
      conv = render.new(view_mod.new('ollama-agent://chat/' .. id))
    end
    s = { id = id, conv = conv }
    M.sessions[id] = s
    M.set_keymaps(conv.view.buf)
  end
  return s
end

--- The conversation the chat shows now (a new, empty one when no session is current).
--- @return ollama_agent.Conversation
function M.shown()
  if M.current then
    return M.session(M.current).conv
  end
  if not ui.draft or not vim.api.nvim_buf_is_valid(ui.draft.view.buf) then
    render.define_highlights()
    ui.draft = render.new(view_mod.new('ollama-agent://chat/new'))
    M.set_keymaps(ui.draft.view.buf)
  end
  return ui.draft
end

local function valid(win)
  return win ~= nil and vim.api.nvim_win_is_valid(win)
end

--- The chat's windows, if open: conversation, input.
--- @return integer|nil, integer|nil
function M.windows()
  return valid(ui.chat) and ui.chat or nil, valid(ui.input) and ui.input or nil
end

local function winbar()
  local s = M.current and M.sessions[M.current]
  local parts = { 'Ollama agent' }
  if s and s.title then
    parts[#parts + 1] = s.title
  elseif not s then
    parts[#parts + 1] = 'new chat'
  end
  if s and s.model then
    parts[#parts + 1] = s.model
  end
  if s and s.running then
    parts[#parts + 1] = 'working…'
  end
  return ' ' .. table.concat(parts, ' · '):gsub('%%', '%%%%')
end

local function key_hint()
  local k = opts().keymaps
  local parts = {}
  if k.send then
    parts[#parts + 1] = k.send .. ' sends'
  end
  if k.send_insert then
    parts[#parts + 1] = k.send_insert .. ' in insert mode'
  end
  if k.close then
    parts[#parts + 1] = k.close .. ' closes'
  end
  if k.cancel then
    parts[#parts + 1] = k.cancel .. ' cancels'
  end
  return (' Message · ' .. table.concat(parts, ' · ')):gsub('%%', '%%%%')
end

local function refresh_winbar()
  local chat, input = M.windows()
  if chat then
    vim.wo[chat].winbar = winbar()
  end
  if input then
    vim.wo[input].winbar = key_hint()
  end
end

local function input_buf()
  if ui.input_buf and vim.api.nvim_buf_is_valid(ui.input_buf) then
    return ui.input_buf
  end
  local buf = vim.api.nvim_create_buf(false, true)
  pcall(vim.api.nvim_buf_set_name, buf, 'ollama-agent://chat-input')
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = 'markdown'
  ui.input_buf = buf
  M.set_input_keymaps(buf)
  return buf
end

--- The input area's buffer (for tests and mappings).
--- @return integer
function M.input_buf()
  return input_buf()
end

local function open_split(buf)
  vim.cmd(opts().split)
  local chat = vim.api.nvim_get_current_win()
  vim.api.nvim_win_set_buf(chat, buf)
  vim.cmd('belowright ' .. opts().input_height .. 'split')
  local input = vim.api.nvim_get_current_win()
  vim.api.nvim_win_set_buf(input, input_buf())
  vim.wo[input].winfixheight = true
  return chat, input
end

local function open_float(buf)
  local f = opts().float or {}
  local columns, lines = vim.o.columns, vim.o.lines - vim.o.cmdheight
  local width = math.max(40, math.floor(columns * (f.width or 0.6)))
  local height = math.max(10, math.floor(lines * (f.height or 0.7)))
  local input_height = opts().input_height
  local row = math.max(0, math.floor((lines - height) / 2))
  local col = math.max(0, math.floor((columns - width) / 2))
  local border = f.border or 'rounded'
  local chat = vim.api.nvim_open_win(buf, true, {
    relative = 'editor',
    row = row,
    col = col,
    width = width,
    height = math.max(3, height - input_height - 2),
    border = border,
    title = ' Ollama agent ',
  })
  local input = vim.api.nvim_open_win(input_buf(), true, {
    relative = 'editor',
    row = row + height - input_height,
    col = col,
    width = width,
    height = input_height,
    border = border,
  })
  return chat, input
end

--- Open the chat (or show `session` in it); focus the input unless opts.focus is false.
--- @param o {session: string|nil, focus: boolean|nil}|nil
--- @return integer chat window, integer input window
function M.open(o)
  o = o or {}
  if o.session then
    M.current = o.session
  end
  local conv = M.shown()
  local chat, input = M.windows()
  local from = vim.api.nvim_get_current_win()
  if chat then
    vim.api.nvim_win_set_buf(chat, conv.view.buf)
    if not input then
      vim.api.nvim_set_current_win(chat)
      vim.cmd('belowright ' .. opts().input_height .. 'split')
      input = vim.api.nvim_get_current_win()
      vim.api.nvim_win_set_buf(input, input_buf())
    end
  elseif opts().layout == 'float' then
    chat, input = open_float(conv.view.buf)
  else
    chat, input = open_split(conv.view.buf)
  end
  ui.chat, ui.input = chat, input
  view_mod.set_window_options(chat)
  vim.wo[input].wrap = true
  vim.wo[input].number = false
  vim.wo[input].relativenumber = false
  vim.wo[input].signcolumn = 'no'
  refresh_winbar()
  pcall(vim.api.nvim_win_set_cursor, chat, { vim.api.nvim_buf_line_count(conv.view.buf), 0 })
  if o.focus == false then
    if valid(from) then
      vim.api.nvim_set_current_win(from)
    end
  else
    vim.api.nvim_set_current_win(input)
  end
  return chat, input
end

--- Close the chat's windows (the conversation stays; :OllamaAgentChat shows it again).
function M.close()
  local chat, input = M.windows()
  for _, win in ipairs({ input, chat }) do
    if win and #vim.api.nvim_list_wins() > 1 then
      pcall(vim.api.nvim_win_close, win, true)
    end
  end
  ui.chat, ui.input = nil, nil
end

--- The text typed in the input area, trimmed.
--- @return string
local function typed()
  return vim.trim(table.concat(vim.api.nvim_buf_get_lines(input_buf(), 0, -1, false), '\n'))
end

--- Send the input area's text: a follow-up in the current session, or a new session's first
--- message.
function M.send()
  local text = typed()
  if text == '' then
    return
  end
  local s = M.current and M.sessions[M.current]
  if s and s.running then
    notify(
      'the agent is still working on this session: wait for it, or cancel with '
        .. tostring(opts().keymaps.cancel or ':OllamaAgentCancel'),
      vim.log.levels.WARN
    )
    return
  end
  vim.api.nvim_buf_set_lines(input_buf(), 0, -1, false, {})
  local conv = M.shown()
  conv:user(text)
  local commands = require('ollama_agent.commands')
  if s then
    commands.execute(protocol.commands.followUp, { sessionId = s.id, instruction = text }, {
      client_id = s.client_id,
      chat = true,
      instruction = text,
    })
  else
    commands.execute(protocol.commands.runTask, { instruction = text }, {
      chat = true,
      instruction = text,
    })
  end
end

--- Cancel the run of the session the chat shows.
function M.cancel()
  local s = M.current and M.sessions[M.current]
  if not s or not s.running then
    notify('nothing is running in this chat', vim.log.levels.WARN)
    return
  end
  require('ollama_agent.commands').cancel(s.running)
end

--- Put a session's events that came before its runId was known into its conversation.
local function flush(run_id)
  local events = unrouted[run_id]
  unrouted[run_id] = nil
  local sid = M.run_session[run_id]
  if events and sid then
    for _, p in ipairs(events) do
      M.session(sid).conv:event(p)
    end
  end
end

--- A run of `session_id` started (its command answered); show it unless told not to.
--- @param run_id string
--- @param session_id string
--- @param o {client_id: integer|nil, instruction: string|nil, chat: boolean|nil, open: boolean|nil}
function M.run_started(run_id, session_id, o)
  -- A run from a code buffer starts its own session with a fresh conversation; the first
  -- message typed in a new chat keeps that chat's.
  local s = M.session(session_id, o.chat and M.current == nil)
  s.running = run_id
  s.client_id = o.client_id or s.client_id
  s.title = s.title or o.instruction
  M.run_session[run_id] = session_id
  if not o.chat and o.instruction then
    s.conv:user(o.instruction)
  end
  M.current = session_id
  flush(run_id)
  local chat = M.windows()
  if chat then
    M.open({ session = session_id, focus = false })
  elseif o.open then
    M.open({ session = session_id, focus = false })
  end
  refresh_winbar()
end

--- An `ollamaAgent/transcript` event: into its session's conversation.
--- @param p table
function M.on_event(p)
  local sid = p.runId and M.run_session[p.runId]
  if not sid then
    if p.runId then
      unrouted[p.runId] = unrouted[p.runId] or {}
      table.insert(unrouted[p.runId], p)
    end
    return
  end
  local s = M.session(sid)
  if p.kind == 'started' and type(p.model) == 'string' then
    s.model = p.model
    refresh_winbar()
  end
  s.conv:event(p)
end

--- A run ended: its session is idle again.
--- @param result table the run result (runId, sessionId, status, ...)
function M.on_result(result)
  if type(result) ~= 'table' or not result.runId then
    return
  end
  local sid = M.run_session[result.runId] or result.sessionId
  if type(sid) ~= 'string' then
    unrouted[result.runId] = nil
    return
  end
  M.run_session[result.runId] = sid
  flush(result.runId)
  local s = M.session(sid)
  if s.running == result.runId then
    s.running = nil
  end
  local approval = M.approvals[sid]
  if approval and approval.params.runId == result.runId then
    M.answer_pending(sid, nil)
  end
  refresh_winbar()
end

-- -- approvals ---------------------------------------------------------------------------

local function choices_for(params)
  if params.outsideSandbox == true then
    return { 'allowOutsideSandbox', 'deny' }
  end
  return { 'allow', 'allowSession', 'deny' }
end

local function approval_keys()
  local k = opts().keymaps
  return { allow = k.allow, allowSession = k.allow_session, deny = k.deny, allowOutsideSandbox = k.allow_outside }
end

--- Answer the approval waiting in session `sid` (nil decision: nobody answered in time).
function M.answer_pending(sid, decision)
  local a = M.approvals[sid]
  if not a then
    return
  end
  M.approvals[sid] = nil
  if a.timer and not a.timer:is_closing() then
    a.timer:close()
  end
  M.session(sid).conv:answered(a.row, decision, a.params.outsideSandbox == true)
  a.reply(decision or 'deny')
end

--- Answer the approval waiting in the chat's session (or the only one waiting) with `decision`.
--- @param decision string allow | allowSession | deny | allowOutsideSandbox
function M.approve(decision)
  local sid = M.current
  if not (sid and M.approvals[sid]) then
    sid = next(M.approvals)
  end
  local a = sid and M.approvals[sid]
  if not a then
    notify('no command is waiting for an answer', vim.log.levels.WARN)
    return
  end
  if not vim.tbl_contains(choices_for(a.params), decision) then
    notify(
      ('%q does not answer this question; one of: %s'):format(decision, table.concat(choices_for(a.params), ', ')),
      vim.log.levels.WARN
    )
    return
  end
  M.answer_pending(sid, decision)
end

--- An approveCommand request: asked in the chat (opened if needed), or with vim.ui.select when
--- chat.approvals is false; `reply(decision)` answers the server.
--- @param params table
--- @param ctx table
--- @param reply fun(decision: string)
function M.ask_approval(params, ctx, reply)
  local choices = choices_for(params)
  if not opts().approvals then
    local titles = {
      allow = 'Allow',
      allowSession = 'Allow for this session',
      deny = params.outsideSandbox == true and 'Keep it blocked' or 'Deny',
      allowOutsideSandbox = 'Run outside the sandbox (once)',
    }
    vim.ui.select(choices, {
      prompt = ('Ollama agent wants to run: %s (in %s)'):format(tostring(params.command), tostring(params.cwd)),
      kind = 'ollama_agent_approval',
      format_item = function(d)
        return titles[d]
      end,
    }, function(choice)
      reply(choice or 'deny')
    end)
    return
  end
  local sid = params.sessionId
  if type(sid) ~= 'string' or sid == '' then
    sid = (params.runId and M.run_session[params.runId]) or M.current or ('run-' .. tostring(params.runId))
  end
  if params.runId then
    M.run_session[params.runId] = M.run_session[params.runId] or sid
    flush(params.runId)
  end
  if M.approvals[sid] then
    -- One question at a time per session: an older one still open is no longer waited on.
    M.answer_pending(sid, nil)
  end
  local s = M.session(sid)
  s.client_id = s.client_id or (ctx and ctx.client_id)
  local row = s.conv:approval(params, approval_keys())
  local a = { row = row, reply = reply, params = params }
  M.approvals[sid] = a
  if type(params.timeoutSeconds) == 'number' and params.timeoutSeconds > 0 then
    a.timer = vim.defer_fn(function()
      if M.approvals[sid] == a then
        M.answer_pending(sid, nil)
      end
    end, math.floor(params.timeoutSeconds * 1000) + 500)
  end
  local cur = vim.api.nvim_get_current_win()
  local chat, input = M.windows()
  local in_chat = cur == chat or cur == input
  M.open({ session = sid, focus = false })
  chat = M.windows()
  if in_chat and chat then
    -- The user is in the chat: the keys that answer work in the conversation window.
    vim.cmd('stopinsert')
    vim.api.nvim_set_current_win(chat)
    pcall(vim.api.nvim_win_set_cursor, chat, { row + 1, 0 })
  else
    notify(('the agent asks to run `%s`: answer in the chat'):format(tostring(params.command)), vim.log.levels.WARN)
  end
end

-- -- sessions ------------------------------------------------------------------------------

local function any_client()
  local client_mod = require('ollama_agent.client')
  local client, err = client_mod.ensure(0)
  return client, err
end

--- Ask the server for a session and show it in the chat.
--- @param session_id string
--- @param cb fun()|nil called once it is shown
function M.resume(session_id, cb)
  local client, err = any_client()
  if not client then
    notify(err or 'no language client', vim.log.levels.ERROR)
    return
  end
  local client_mod = require('ollama_agent.client')
  client_mod.execute_command(client, protocol.commands.getSession, { sessionId = session_id }, function(rpc_err, session)
    if rpc_err or type(session) ~= 'table' then
      notify('could not load the session: ' .. tostring(rpc_err and rpc_err.message or session), vim.log.levels.ERROR)
      return
    end
    local known = M.sessions[session_id]
    if not known or known.conv.view:is_empty() then
      local s = M.session(session_id)
      s.conv:history(session)
    end
    local s = M.session(session_id)
    s.title = type(session.title) == 'string' and session.title or s.title
    s.model = type(session.model) == 'string' and session.model or s.model
    s.client_id = client.id
    M.open({ session = session_id })
    if cb then
      cb()
    end
  end)
end

--- One line for a listSessions entry.
--- @param s table {sessionId, title, model, updatedAt, runs}
--- @return string
function M.describe_session(s)
  local parts = { type(s.title) == 'string' and s.title ~= '' and s.title or s.sessionId }
  if type(s.model) == 'string' then
    parts[#parts + 1] = s.model
  end
  if type(s.runs) == 'number' then
    parts[#parts + 1] = ('%d run%s'):format(s.runs, s.runs == 1 and '' or 's')
  end
  if type(s.updatedAt) == 'string' then
    parts[#parts + 1] = (s.updatedAt:gsub('T', ' '):gsub('%.%d+', ''):gsub('[Z+].*$', ''))
  end
  local line = table.concat(parts, ' · ')
  if s.sessionId == M.current then
    line = line .. '  (current)'
  end
  return line
end

--- Pick one of the workspace's sessions with vim.ui.select and resume it in the chat.
function M.pick_session()
  local client, err = any_client()
  if not client then
    notify(err or 'no language client', vim.log.levels.ERROR)
    return
  end
  local client_mod = require('ollama_agent.client')
  client_mod.when_ready(client, function(ready)
    client_mod.execute_command(ready, protocol.commands.listSessions, nil, function(rpc_err, sessions)
      if rpc_err then
        notify('could not list sessions: ' .. tostring(rpc_err.message), vim.log.levels.ERROR)
        return
      end
      if type(sessions) ~= 'table' or #sessions == 0 then
        notify('this workspace has no sessions yet: run the agent first (:OllamaAgentChat)')
        return
      end
      vim.ui.select(sessions, {
        prompt = 'Ollama agent session',
        kind = 'ollama_agent_session',
        format_item = M.describe_session,
      }, function(choice)
        if choice then
          M.resume(choice.sessionId)
        end
      end)
    end)
  end)
end

-- -- keymaps -------------------------------------------------------------------------------

local function map(buf, modes, lhs, fn, desc)
  if lhs then
    vim.keymap.set(modes, lhs, fn, { buffer = buf, nowait = true, desc = 'Ollama agent chat: ' .. desc })
  end
end

--- Buffer-local keys of a conversation buffer.
--- @param buf integer
function M.set_keymaps(buf)
  local k = opts().keymaps
  map(buf, 'n', k.close, M.close, 'close')
  map(buf, 'n', k.cancel, M.cancel, 'cancel the run')
  map(buf, 'n', k.allow, function()
    M.approve('allow')
  end, 'allow the command')
  map(buf, 'n', k.allow_session, function()
    M.approve('allowSession')
  end, 'allow the command for this session')
  map(buf, 'n', k.deny, function()
    M.approve('deny')
  end, 'deny the command')
  map(buf, 'n', k.allow_outside, function()
    M.approve('allowOutsideSandbox')
  end, 'run the blocked command outside the sandbox once')
end

--- Buffer-local keys of the input area.
--- @param buf integer
function M.set_input_keymaps(buf)
  local k = opts().keymaps
  map(buf, 'n', k.send, M.send, 'send')
  map(buf, 'i', k.send_insert, function()
    vim.cmd('stopinsert')
    M.send()
  end, 'send')
  map(buf, 'n', k.close, M.close, 'close')
  map(buf, { 'n', 'i' }, k.cancel, M.cancel, 'cancel the run')
end

return M
