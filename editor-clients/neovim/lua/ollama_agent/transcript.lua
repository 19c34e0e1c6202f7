--- The transcript: one scratch buffer that streams every run's events, drawn as the chat draws
--- them (:OllamaAgentTranscript; the chat shows one session, this shows all runs).
local render = require('ollama_agent.render')
local view_mod = require('ollama_agent.view')

local M = {}

M.name = 'ollama-agent://transcript'

local state = { conv = nil } --- @type {conv: ollama_agent.Conversation|nil}

local function conv()
  if state.conv and vim.api.nvim_buf_is_valid(state.conv.view.buf) then
    return state.conv
  end
  render.define_highlights()
  state.conv = render.new(view_mod.new(M.name))
  return state.conv
end

--- The transcript buffer, created hidden on first use.
--- @return integer
function M.buf()
  return conv().view.buf
end

--- All lines of the transcript.
--- @return string[]
function M.lines()
  return conv().view:lines()
end

--- Open the transcript in a split (or focus its window).
--- @return integer window
function M.open()
  local buf = M.buf()
  local wins = vim.fn.win_findbuf(buf)
  if #wins > 0 then
    return wins[1]
  end
  local cur = vim.api.nvim_get_current_win()
  vim.cmd(require('ollama_agent.config').options.transcript.split)
  local win = vim.api.nvim_get_current_win()
  vim.api.nvim_win_set_buf(win, buf)
  view_mod.set_window_options(win)
  vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(buf), 0 })
  if vim.api.nvim_win_is_valid(cur) then
    vim.api.nvim_set_current_win(cur)
  end
  return win
end

--- Add one `ollamaAgent/transcript` notification.
--- @param p {runId: string, kind: string, text: string}
function M.append(p)
  conv():event(p)
end

--- Empty the transcript.
function M.clear()
  conv().view:clear()
end

return M
