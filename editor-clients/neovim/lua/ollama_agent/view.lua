--- A read-only scratch buffer that grows as a run streams: lines appended or inserted after a
--- mark, highlights as extmarks, and folded regions (the model's thinking) that move with the text.
local M = {}

M.ns = vim.api.nvim_create_namespace('ollama_agent_view')
--- Folded regions, one extmark each (start row to end row), in their own namespace.
local fold_ns = vim.api.nvim_create_namespace('ollama_agent_view_folds')

--- @class ollama_agent.View
--- @field buf integer
local View = {}
View.__index = View

--- Folded rows per buffer, recomputed when the buffer changed: { tick = n, rows = {[row] = id} }.
local fold_cache = {}
--- What each folded region is, per buffer and extmark id: shown when it is closed.
local fold_labels = {}

--- Filetype of the plugin's buffers; markdown's treesitter parser draws it where it is there.
M.filetype = 'ollama_agent_chat'

--- Draw a buffer with treesitter markdown when the parser is there, never with Vim's regex
--- markdown syntax (it paints `_` in `edit_file` as an error); plain text otherwise.
--- @param buf integer
--- @return boolean treesitter whether treesitter draws it
local function highlight_as_markdown(buf)
  pcall(vim.treesitter.language.register, 'markdown', M.filetype)
  local ok = pcall(vim.treesitter.start, buf, 'markdown')
  if not ok then
    vim.bo[buf].syntax = 'OFF'
  end
  return ok
end

--- A new view in a new hidden scratch buffer named `name`.
--- @param name string
--- @return ollama_agent.View
function M.new(name)
  local buf = vim.api.nvim_create_buf(false, true)
  pcall(vim.api.nvim_buf_set_name, buf, name)
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = M.filetype
  vim.bo[buf].modifiable = false
  local self = setmetatable({ buf = buf }, View)
  self.treesitter = highlight_as_markdown(buf)
  return self
end

--- Window options for a window showing a view: wrapped text, folds from the view, concealed
--- markdown markers.
--- @param win integer
function M.set_window_options(win)
  local wo = vim.wo[win]
  wo.wrap = true
  wo.linebreak = true
  wo.number = false
  wo.relativenumber = false
  wo.signcolumn = 'no'
  wo.conceallevel = 2
  wo.concealcursor = 'nc'
  wo.foldmethod = 'expr'
  wo.foldexpr = "v:lua.require'ollama_agent.view'.foldexpr()"
  wo.foldtext = "v:lua.require'ollama_agent.view'.foldtext()"
  wo.foldlevel = 0
  wo.foldenable = true
  wo.fillchars = 'fold: '
end

local function fold_rows(buf)
  local tick = vim.api.nvim_buf_get_changedtick(buf)
  local cache = fold_cache[buf]
  if cache and cache.tick == tick then
    return cache.rows
  end
  local rows = {}
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(buf, fold_ns, 0, -1, { details = true })) do
    for row = mark[2], mark[4].end_row or mark[2] do
      rows[row] = mark[1]
    end
  end
  fold_cache[buf] = { tick = tick, rows = rows }
  return rows
end

--- 'foldexpr' of the view's windows: lines of a folded region are level 1.
--- @return string|integer
function M.foldexpr()
  local buf = vim.api.nvim_get_current_buf()
  local rows = fold_rows(buf)
  local row = vim.v.lnum - 1
  if not rows[row] then
    return 0
  end
  -- Two regions one after the other stay two folds.
  if row > 0 and rows[row - 1] and rows[row - 1] ~= rows[row] then
    return '>1'
  end
  return 1
end

--- 'foldtext': what the closed region is, and how long.
--- @return string
function M.foldtext()
  local buf = vim.api.nvim_get_current_buf()
  local rows = fold_rows(buf)
  local id = rows[vim.v.foldstart - 1]
  local label = (fold_labels[buf] or {})[id] or 'more'
  local n = vim.v.foldend - vim.v.foldstart + 1
  return ('  ▸ %s (%d line%s, zo opens)'):format(label, n, n == 1 and '' or 's')
end

--- Change the buffer with `fn(buf)` while it is modifiable; windows showing its end follow it.
--- @param fn fun(buf: integer)
function View:edit(fn)
  local buf = self.buf
  local before = vim.api.nvim_buf_line_count(buf)
  local follow = {}
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    if vim.api.nvim_win_get_cursor(win)[1] >= before then
      follow[#follow + 1] = win
    end
  end
  vim.bo[buf].modifiable = true
  local ok, err = pcall(fn, buf)
  vim.bo[buf].modifiable = false
  local last = vim.api.nvim_buf_line_count(buf)
  for _, win in ipairs(follow) do
    pcall(vim.api.nvim_win_set_cursor, win, { last, 0 })
  end
  if not ok then
    error(err, 0)
  end
end

--- Whether the buffer holds nothing yet.
--- @return boolean
function View:is_empty()
  local buf = self.buf
  return vim.api.nvim_buf_line_count(buf) == 1 and vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1] == ''
end

--- All lines.
--- @return string[]
function View:lines()
  return vim.api.nvim_buf_get_lines(self.buf, 0, -1, false)
end

--- Highlight part of a row (ecol -1: to the end of the line).
function View:highlight(row, scol, ecol, group)
  local line = vim.api.nvim_buf_get_lines(self.buf, row, row + 1, false)[1] or ''
  if ecol < 0 or ecol > #line then
    ecol = #line
  end
  vim.api.nvim_buf_set_extmark(self.buf, M.ns, row, scol, { end_col = ecol, hl_group = group })
end

--- Put a block's lines at row `at` (nil: the end); returns the first and last row written.
--- A block: { lines = string[], hl = {{row, scol, ecol, group}}, fold = {srow, erow, label} }
--- with rows relative to the block.
--- @param block table
--- @param at integer|nil
--- @return integer, integer
function View:put(block, at)
  local first
  self:edit(function(buf)
    if self:is_empty() and at == nil then
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, block.lines)
      first = 0
    else
      first = at or vim.api.nvim_buf_line_count(buf)
      vim.api.nvim_buf_set_lines(buf, first, first, false, block.lines)
    end
  end)
  for _, h in ipairs(block.hl or {}) do
    self:highlight(first + h[1], h[2], h[3], h[4])
  end
  if block.fold then
    self:fold(first + block.fold[1], first + block.fold[2], block.fold[3])
  end
  return first, first + #block.lines - 1
end

--- Fold rows srow..erow (closed until opened), labelled `label` when closed.
--- @return integer extmark id (extend it with View:extend_fold)
function View:fold(srow, erow, label)
  local id = vim.api.nvim_buf_set_extmark(self.buf, fold_ns, srow, 0, { end_row = erow })
  fold_labels[self.buf] = fold_labels[self.buf] or {}
  fold_labels[self.buf][id] = label
  return id
end

--- Grow fold `id` to rows srow..erow.
function View:extend_fold(id, srow, erow)
  vim.api.nvim_buf_set_extmark(self.buf, fold_ns, srow, 0, { id = id, end_row = erow })
  fold_cache[self.buf] = nil
end

--- Highlight rows srow..erow with `group` through extmark `id` (nil: a new one); returns its id.
function View:span(id, srow, erow, group)
  local last = vim.api.nvim_buf_get_lines(self.buf, erow, erow + 1, false)[1] or ''
  return vim.api.nvim_buf_set_extmark(self.buf, M.ns, srow, 0, {
    id = id,
    end_row = erow,
    end_col = #last,
    hl_group = group,
  })
end

--- Append streamed text to the last line; newlines start new lines with `prefix`.
--- @return integer, integer the rows the text touched
function View:stream(text, prefix)
  local from
  self:edit(function(buf)
    local last = vim.api.nvim_buf_line_count(buf)
    local cur = vim.api.nvim_buf_get_lines(buf, last - 1, last, false)[1] or ''
    local pieces = vim.split(text, '\n', { plain = true })
    pieces[1] = cur .. pieces[1]
    for i = 2, #pieces do
      pieces[i] = prefix .. pieces[i]
    end
    vim.api.nvim_buf_set_lines(buf, last - 1, last, false, pieces)
    from = last - 1
  end)
  return from, vim.api.nvim_buf_line_count(self.buf) - 1
end

--- Replace row `row` with `text`, highlighted `group` from column `scol` (nil: none).
function View:set_line(row, text, group, scol)
  vim.api.nvim_buf_clear_namespace(self.buf, M.ns, row, row + 1)
  self:edit(function(buf)
    vim.api.nvim_buf_set_lines(buf, row, row + 1, false, { text })
  end)
  if group then
    self:highlight(row, scol or 0, -1, group)
  end
end

--- Empty the buffer and forget its highlights and folds.
function View:clear()
  self:edit(function(buf)
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, {})
  end)
  vim.api.nvim_buf_clear_namespace(self.buf, M.ns, 0, -1)
  vim.api.nvim_buf_clear_namespace(self.buf, fold_ns, 0, -1)
end

--- The rows folded now (0-based), for tests and foldtext.
--- @return table<integer, any>
function View:folded_rows()
  return fold_rows(self.buf)
end

M.View = View
return M
