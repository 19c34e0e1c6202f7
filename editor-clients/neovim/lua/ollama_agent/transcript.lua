--- The transcript: one markdown scratch buffer that streams every run's notifications.
local M = {}

M.name = 'ollama-agent://transcript'

local state = {
  buf = nil, --- @type integer|nil
  kind = nil, --- kind of the block being streamed (thinking/content) or nil
  run = nil, --- runId of the block being streamed
}

--- The transcript buffer, created hidden on first use.
--- @return integer
function M.buf()
  if state.buf and vim.api.nvim_buf_is_valid(state.buf) then
    return state.buf
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(buf, M.name)
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = 'markdown'
  vim.bo[buf].modifiable = false
  state.buf = buf
  state.kind, state.run = nil, nil
  return buf
end

--- All lines of the transcript.
--- @return string[]
function M.lines()
  return vim.api.nvim_buf_get_lines(M.buf(), 0, -1, false)
end

local function windows(buf)
  return vim.fn.win_findbuf(buf)
end

--- Open the transcript in a split (or focus its window).
--- @return integer window
function M.open()
  local buf = M.buf()
  local wins = windows(buf)
  if #wins > 0 then
    return wins[1]
  end
  local cur = vim.api.nvim_get_current_win()
  vim.cmd(require('ollama_agent.config').options.transcript.split)
  local win = vim.api.nvim_get_current_win()
  vim.api.nvim_win_set_buf(win, buf)
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].number = false
  local last = vim.api.nvim_buf_line_count(buf)
  vim.api.nvim_win_set_cursor(win, { last, 0 })
  if vim.api.nvim_win_is_valid(cur) then
    vim.api.nvim_set_current_win(cur)
  end
  return win
end

--- Change the buffer: `fn(buf)` runs with it modifiable; windows at the end follow the text.
local function edit(fn)
  local buf = M.buf()
  local before = vim.api.nvim_buf_line_count(buf)
  local follow = {}
  for _, win in ipairs(windows(buf)) do
    if vim.api.nvim_win_get_cursor(win)[1] >= before then
      follow[#follow + 1] = win
    end
  end
  vim.bo[buf].modifiable = true
  fn(buf)
  vim.bo[buf].modifiable = false
  local last = vim.api.nvim_buf_line_count(buf)
  for _, win in ipairs(follow) do
    pcall(vim.api.nvim_win_set_cursor, win, { last, 0 })
  end
end

local function is_empty(buf)
  local n = vim.api.nvim_buf_line_count(buf)
  return n == 1 and vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1] == ''
end

--- Append whole lines.
--- @param lines string[]
function M.add_lines(lines)
  edit(function(buf)
    if is_empty(buf) then
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    else
      vim.api.nvim_buf_set_lines(buf, -1, -1, false, lines)
    end
  end)
  state.kind, state.run = nil, nil
end

--- Append streamed text to the last line; newlines start new lines with `prefix`.
local function stream(text, prefix)
  edit(function(buf)
    local last = vim.api.nvim_buf_line_count(buf)
    local cur = vim.api.nvim_buf_get_lines(buf, last - 1, last, false)[1] or ''
    local pieces = vim.split(text, '\n', { plain = true })
    pieces[1] = cur .. pieces[1]
    for i = 2, #pieces do
      pieces[i] = prefix .. pieces[i]
    end
    vim.api.nvim_buf_set_lines(buf, last - 1, last, false, pieces)
  end)
end

local function split_lines(text, prefix)
  local out = {}
  for _, line in ipairs(vim.split(text or '', '\n', { plain = true })) do
    out[#out + 1] = prefix .. line
  end
  return out
end

--- A list item after a blank line: `head` and `tail` around the text's first line, the rest indented.
local function add_item(head, text, tail)
  local lines = split_lines(text, '  ')
  lines[1] = head .. vim.trim(lines[1]) .. (tail or '')
  table.insert(lines, 1, '')
  M.add_lines(lines)
end

local function short(run_id)
  return tostring(run_id or '?'):sub(1, 8)
end

--- Add one `ollamaAgent/transcript` notification.
--- @param p {runId: string, kind: string, text: string}
function M.append(p)
  local kind, text = p.kind, p.text or ''
  if text == vim.NIL then
    text = ''
  end
  if kind == 'thinking' or kind == 'content' then
    local prefix = kind == 'thinking' and '> ' or ''
    if state.kind ~= kind or state.run ~= p.runId then
      local header = state.run ~= nil and state.run ~= p.runId and { '', ('[%s]'):format(short(p.runId)) }
        or { '' }
      header[#header + 1] = prefix
      M.add_lines(header)
      state.kind, state.run = kind, p.runId
    end
    stream(text, prefix)
    return
  end
  if kind == 'started' then
    local model = type(p.model) == 'string' and (' (' .. p.model .. ')') or ''
    M.add_lines({ '', ('## %s%s'):format(text ~= '' and text or 'Run', model), ('run %s'):format(p.runId or '?') })
  elseif kind == 'toolCall' then
    add_item('- **tool** `', text, '`')
  elseif kind == 'toolResult' then
    local mark = p.ok == false and ' (failed)' or ''
    local lines = { '', '```' .. mark }
    vim.list_extend(lines, split_lines(text, ''))
    lines[#lines + 1] = '```'
    if type(p.exitCode) == 'number' or p.timedOut == true then
      local how = p.timedOut == true and 'timed out' or ('exit %d'):format(p.exitCode)
      local secs = type(p.durationMs) == 'number' and (' · %.1f s'):format(p.durationMs / 1000) or ''
      lines[#lines + 1] = how .. secs
    end
    M.add_lines(lines)
  elseif kind == 'commandRunning' then
    -- Sent about once a second: one line every ten seconds of a long command.
    local seconds = math.floor((tonumber(p.elapsedMs) or 0) / 1000 + 0.5)
    if seconds >= 10 and seconds % 10 == 0 then
      M.add_lines({ ('- running %d s: `%s`'):format(seconds, tostring(p.command or '')) })
    end
  elseif kind == 'edit' then
    local lines = { '- **edit** ' .. text }
    if type(p.diff) == 'string' and p.diff ~= '' then
      lines[#lines + 1] = '```diff'
      vim.list_extend(lines, split_lines(p.diff, ''))
      if type(p.omittedLines) == 'number' and p.omittedLines > 0 then
        lines[#lines + 1] = ('… %d more diff lines'):format(p.omittedLines)
      end
      lines[#lines + 1] = '```'
    end
    M.add_lines(lines)
  elseif kind == 'warning' or kind == 'error' then
    add_item(('- **%s** '):format(kind), text)
  elseif kind == 'finished' then
    local status = type(p.status) == 'string' and p.status or 'finished'
    local lines = { '', ('**%s**: %s'):format(status, text) }
    M.add_lines(lines)
  else
    M.add_lines(split_lines(('[%s] %s'):format(tostring(kind), text), ''))
  end
end

--- Empty the transcript.
function M.clear()
  edit(function(buf)
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, {})
  end)
  state.kind, state.run = nil, nil
end

return M
