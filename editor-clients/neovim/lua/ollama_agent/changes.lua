--- Changes you can see: each region a run changed is highlighted (DiffAdd for added lines,
--- DiffChange for changed ones, a virtual line for removed ones) with a hint at its end, until it
--- is kept or undone, hunk by hunk, through the server's runChanges / keepHunk / revertHunk.
local config = require('ollama_agent.config')
local protocol = require('ollama_agent.protocol')

local M = {}

M.ns = vim.api.nvim_create_namespace('ollama_agent_changes')

M.groups = {
  OllamaAgentHunkAdd = 'DiffAdd',
  OllamaAgentHunkChange = 'DiffChange',
  OllamaAgentHunkDelete = 'DiffDelete',
  OllamaAgentHunkHint = 'Comment',
}

--- Marks per buffer: { {id, run_id, uri, hunk_id, client_id, deletion} }.
M.marks = {}
--- Runs with changes, oldest first: {run_id, client_id}.
M.runs = {}
--- The last runChanges answer per run (for :OllamaAgentReview and tests).
M.last_changes = {}

local refreshing = {}

local function notify(msg, level)
  vim.notify('Ollama agent: ' .. msg, level or vim.log.levels.INFO)
end

local function define_highlights()
  for group, link in pairs(M.groups) do
    vim.api.nvim_set_hl(0, group, { link = link, default = true })
  end
end

local function client_for(client_id)
  local client = client_id and vim.lsp.get_client_by_id(client_id)
  if client then
    return client
  end
  return require('ollama_agent.client').get(nil)
end

local function command(client, name, args, cb)
  require('ollama_agent.client').execute_command(client, name, args, cb)
end

local function hint_text()
  local k = config.options.keymaps or {}
  local keep = k.keep or ':OllamaAgentKeep'
  local undo = k.undo_hunk or ':OllamaAgentUndoHunk'
  return ('  agent change · %s keeps · %s undoes'):format(keep, undo)
end

--- The rows a hunk covers now: first row and the row after its last (equal for a deletion).
--- @param range table LSP range
--- @return integer, integer
local function rows_of(range)
  local s, e = range.start, range['end']
  local erow = e.character > 0 and e.line + 1 or e.line
  return s.line, math.max(erow, s.line)
end

--- Remove a run's marks from every buffer.
local function clear_run(run_id)
  for buf, marks in pairs(M.marks) do
    local keep = {}
    for _, m in ipairs(marks) do
      if m.run_id == run_id then
        pcall(vim.api.nvim_buf_del_extmark, buf, M.ns, m.id)
      else
        keep[#keep + 1] = m
      end
    end
    M.marks[buf] = keep
  end
end

--- Mark one pending hunk in its buffer.
local function place(run_id, client_id, uri, hunk)
  local ok, buf = pcall(vim.uri_to_bufnr, uri)
  if not ok or not vim.api.nvim_buf_is_loaded(buf) then
    return
  end
  local count = vim.api.nvim_buf_line_count(buf)
  local srow, erow = rows_of(hunk.range)
  if srow > count then
    return
  end
  local o = config.options.changes
  local deletion = srow == erow
  local mark = {}
  if deletion then
    local removed = #vim.split((hunk.oldText or ''):gsub('\n$', ''), '\n', { plain = true })
    local virt = { { ('▁ agent removed %d line%s'):format(removed, removed == 1 and '' or 's'), 'OllamaAgentHunkDelete' } }
    if o.hints then
      virt[#virt + 1] = { hint_text(), 'OllamaAgentHunkHint' }
    end
    local row = math.min(srow, count - 1)
    mark = { virt_lines = { virt }, virt_lines_above = srow < count }
    mark.id = vim.api.nvim_buf_set_extmark(buf, M.ns, math.max(row, 0), 0, mark)
  else
    local group = (hunk.oldText == nil or hunk.oldText == '') and 'OllamaAgentHunkAdd' or 'OllamaAgentHunkChange'
    local last = math.min(erow, count)
    mark = {
      end_row = last,
      end_col = 0,
      strict = false,
    }
    if o.highlight then
      mark.hl_group = group
      mark.hl_eol = true
    end
    if o.hints then
      mark.virt_text = { { hint_text(), 'OllamaAgentHunkHint' } }
      mark.virt_text_pos = 'eol'
    end
    mark.id = vim.api.nvim_buf_set_extmark(buf, M.ns, srow, 0, mark)
  end
  M.marks[buf] = M.marks[buf] or {}
  table.insert(M.marks[buf], {
    id = mark.id,
    run_id = run_id,
    uri = uri,
    hunk_id = hunk.id,
    client_id = client_id,
    deletion = deletion,
  })
end

--- Ask the server for a run's hunks and mark the pending ones; cb(files|nil, err|nil).
--- @param run_id string
--- @param client_id integer|nil
--- @param cb fun(files: table|nil, err: string|nil)|nil
function M.refresh(run_id, client_id, cb)
  local client = client_for(client_id)
  if not client then
    if cb then
      cb(nil, 'no agent server is running')
    end
    return
  end
  command(client, protocol.commands.runChanges, { runId = run_id }, function(err, files)
    if err or type(files) ~= 'table' then
      if cb then
        cb(nil, err and err.message or 'no answer')
      end
      return
    end
    define_highlights()
    M.last_changes[run_id] = files
    clear_run(run_id)
    for _, file in ipairs(files) do
      for _, hunk in ipairs(file.hunks or {}) do
        if hunk.state == 'pending' and type(hunk.range) == 'table' then
          place(run_id, client.id, file.uri, hunk)
        end
      end
    end
    if cb then
      cb(files)
    end
  end)
end

--- A run edited a file: mark its changes so far (at most once every 200 ms).
function M.on_edit(run_id, client_id)
  if refreshing[run_id] then
    return
  end
  refreshing[run_id] = true
  vim.defer_fn(function()
    refreshing[run_id] = nil
    M.refresh(run_id, client_id)
  end, 200)
end

--- A run ended: mark what it changed.
--- @param result table
--- @param client_id integer|nil
function M.on_result(result, client_id)
  if type(result) ~= 'table' or type(result.runId) ~= 'string' then
    return
  end
  local files = result.changedFiles
  if type(files) ~= 'table' or #files == 0 then
    return
  end
  M.runs[#M.runs + 1] = { run_id = result.runId, client_id = client_id }
  M.refresh(result.runId, client_id, function()
    vim.api.nvim_exec_autocmds('User', {
      pattern = 'OllamaAgentChangesShown',
      modeline = false,
      data = { runId = result.runId },
    })
  end)
end

--- The marked hunk under the cursor of the current window, if any.
--- @return table|nil
function M.hunk_at_cursor()
  local buf = vim.api.nvim_get_current_buf()
  local row = vim.api.nvim_win_get_cursor(0)[1] - 1
  for _, m in ipairs(M.marks[buf] or {}) do
    local pos = vim.api.nvim_buf_get_extmark_by_id(buf, M.ns, m.id, { details = true })
    if pos[1] then
      local srow = pos[1]
      local erow = (pos[3] and pos[3].end_row) or srow
      local inside
      if m.deletion then
        inside = row == srow or row == srow - 1
      else
        inside = row >= srow and (row < erow or row == srow)
      end
      if inside then
        return m
      end
    end
  end
  return nil
end

local function where(m)
  local buf = vim.uri_to_bufnr(m.uri)
  local pos = vim.api.nvim_buf_get_extmark_by_id(buf, M.ns, m.id, {})
  return ('%s:%d'):format(vim.fn.fnamemodify(vim.uri_to_fname(m.uri), ':t'), (pos[1] or 0) + 1)
end

local function act(name, verb)
  local m = M.hunk_at_cursor()
  if not m then
    notify('no agent change under the cursor (changed regions are highlighted; :OllamaAgentReview lists them)', vim.log.levels.WARN)
    return
  end
  local client = client_for(m.client_id)
  if not client then
    notify('no agent server is running', vim.log.levels.ERROR)
    return
  end
  local at = where(m)
  command(client, name, { runId = m.run_id, uri = m.uri, hunkId = m.hunk_id }, function(err)
    if err then
      notify(('could not %s the change at %s: %s'):format(verb, at, tostring(err.message)), vim.log.levels.ERROR)
      return
    end
    M.refresh(m.run_id, client.id, function()
      notify(('%s the change at %s (%s)'):format(verb == 'keep' and 'kept' or 'undid', at, require('ollama_agent.commands').run_name(m.run_id)))
      vim.api.nvim_exec_autocmds('User', {
        pattern = 'OllamaAgentHunkDone',
        modeline = false,
        data = { runId = m.run_id, uri = m.uri, hunkId = m.hunk_id, action = verb },
      })
    end)
  end)
end

--- Keep the agent's change under the cursor (its highlight goes; undo leaves it alone).
function M.keep()
  act(protocol.commands.keepHunk, 'keep')
end

--- Undo the agent's change under the cursor, leaving the run's other changes and your edits.
function M.undo_hunk()
  act(protocol.commands.revertHunk, 'undo')
end

--- The review buffer's lines for a runChanges answer, and which hunk each row shows.
--- @param files table
--- @return string[], table<integer, table>
function M.review_lines(files)
  local lines, rows = {}, {}
  for _, file in ipairs(files) do
    local rel = vim.fn.fnamemodify(vim.uri_to_fname(file.uri), ':~:.')
    lines[#lines + 1] = '--- a/' .. rel
    lines[#lines + 1] = '+++ b/' .. rel
    for _, hunk in ipairs(file.hunks or {}) do
      local at = ''
      if type(hunk.range) == 'table' then
        at = (' · line %d'):format(hunk.range.start.line + 1)
      elseif hunk.state == 'edited' then
        at = ' · edited by you since'
      end
      lines[#lines + 1] = ('@@ %s · %s%s @@'):format(tostring(hunk.id), tostring(hunk.state), at)
      rows[#lines] = { uri = file.uri, hunk = hunk }
      for _, l in ipairs(vim.split((hunk.oldText or ''):gsub('\n$', ''), '\n', { plain = true })) do
        if hunk.oldText and hunk.oldText ~= '' then
          lines[#lines + 1] = '-' .. l
          rows[#lines] = { uri = file.uri, hunk = hunk }
        end
      end
      for _, l in ipairs(vim.split((hunk.newText or ''):gsub('\n$', ''), '\n', { plain = true })) do
        if hunk.newText and hunk.newText ~= '' then
          lines[#lines + 1] = '+' .. l
          rows[#lines] = { uri = file.uri, hunk = hunk }
        end
      end
    end
  end
  return lines, rows
end

--- The run :OllamaAgentReview shows by default: the latest with changes.
local function latest()
  local r = M.runs[#M.runs]
  return r and r.run_id, r and r.client_id
end

--- Show a run's changes as a diff (default: the latest run with changes); in it the keep and
--- undo keys act on the hunk under the cursor and <CR> jumps to it.
--- @param run_id string|nil
function M.review(run_id)
  local client_id
  if run_id == nil or run_id == '' then
    run_id, client_id = latest()
  end
  if not run_id then
    notify('no run has changed anything yet', vim.log.levels.WARN)
    return
  end
  local client = client_for(client_id)
  if not client then
    notify('no agent server is running', vim.log.levels.ERROR)
    return
  end
  command(client, protocol.commands.runChanges, { runId = run_id }, function(err, files)
    if err or type(files) ~= 'table' then
      notify('could not get the changes of ' .. require('ollama_agent.commands').run_name(run_id) .. ': '
        .. tostring(err and err.message or files), vim.log.levels.ERROR)
      return
    end
    M.last_changes[run_id] = files
    local lines, rows = M.review_lines(files)
    local buf = vim.api.nvim_create_buf(false, true)
    pcall(vim.api.nvim_buf_set_name, buf, 'ollama-agent://review/' .. run_id)
    vim.bo[buf].buftype = 'nofile'
    vim.bo[buf].bufhidden = 'wipe'
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, #lines > 0 and lines or { '(no changes)' })
    vim.bo[buf].modifiable = false
    vim.bo[buf].filetype = 'diff'
    vim.cmd('botright split')
    vim.api.nvim_win_set_buf(0, buf)
    M.review_rows = rows
    local function hunk_here()
      return rows[vim.api.nvim_win_get_cursor(0)[1]]
    end
    local function jump()
      local h = hunk_here()
      if not h or type(h.hunk.range) ~= 'table' then
        return nil
      end
      vim.cmd('wincmd p')
      vim.cmd.edit(vim.fn.fnameescape(vim.uri_to_fname(h.uri)))
      pcall(vim.api.nvim_win_set_cursor, 0, { h.hunk.range.start.line + 1, 0 })
      return h
    end
    local k = config.options.keymaps or {}
    local o = { buffer = buf, nowait = true }
    vim.keymap.set('n', '<CR>', jump, vim.tbl_extend('force', o, { desc = 'Ollama agent review: go to the change' }))
    vim.keymap.set('n', 'q', '<Cmd>close<CR>', vim.tbl_extend('force', o, { desc = 'Ollama agent review: close' }))
    for key, fn in pairs({ [k.keep or ''] = M.keep, [k.undo_hunk or ''] = M.undo_hunk }) do
      if key ~= '' then
        vim.keymap.set('n', key, function()
          if jump() then
            fn()
          end
        end, vim.tbl_extend('force', o, { desc = 'Ollama agent review: keep or undo this change' }))
      end
    end
  end)
end

return M
