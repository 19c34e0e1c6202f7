--- ollama_agent: a coding agent on a local Ollama model, through the ollama-agent-ls server.
local M = {}

local augroup = 'ollama_agent'

--- Configure the plugin: options, the default keymap, attaching to file buffers.
--- @param opts table|nil see :help ollama-agent-options
function M.setup(opts)
  local config = require('ollama_agent.config')
  local problems = config.set(opts)
  for _, problem in ipairs(problems) do
    vim.notify('ollama_agent.setup: ' .. problem, vim.log.levels.WARN)
  end

  local group = vim.api.nvim_create_augroup(augroup, { clear = true })
  vim.api.nvim_create_autocmd('LspProgress', {
    group = group,
    callback = function(ev)
      require('ollama_agent.commands').on_progress(ev)
    end,
  })

  local keys = config.options.keymaps or {}
  if keys.selection then
    vim.keymap.set('x', keys.selection, '<Plug>(ollama-agent-selection)', {
      desc = 'Ollama agent: run on selection',
    })
  end

  if config.options.autostart then
    local client = require('ollama_agent.client')
    local function attach(buf)
      if client.wants(buf) and not client.get(buf) then
        local _, err = client.ensure(buf)
        if err then
          vim.notify_once('Ollama agent: ' .. err, vim.log.levels.WARN)
        end
      end
    end
    vim.api.nvim_create_autocmd({ 'BufReadPost', 'BufNewFile' }, {
      group = group,
      callback = function(ev)
        -- After filetype detection, so didOpen carries the right languageId.
        vim.schedule(function()
          attach(ev.buf)
        end)
      end,
    })
    for _, buf in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(buf) then
        attach(buf)
      end
    end
  end
end

--- Run the agent on a line range with an instruction (asks for it when nil).
function M.run_selection(opts)
  require('ollama_agent.commands').run_selection(opts)
end

--- Run the agent on the last visual selection.
function M.run_visual(instruction)
  require('ollama_agent.commands').run_visual(instruction)
end

--- Implement the TODO on the cursor line.
function M.run_todo(line)
  require('ollama_agent.commands').run_todo(line)
end

--- Run the spec in the current buffer.
function M.run_spec()
  require('ollama_agent.commands').run_spec()
end

--- Cancel a run (or all running runs).
function M.cancel(run_id)
  require('ollama_agent.commands').cancel(run_id)
end

--- Undo a run (or the latest run).
function M.undo(run_id)
  require('ollama_agent.commands').undo(run_id)
end

--- Pick the model with vim.ui.select.
function M.select_model()
  require('ollama_agent.commands').select_model()
end

--- Open the transcript window.
function M.open_transcript()
  return require('ollama_agent.transcript').open()
end

--- The agent's progress for a statusline ('' when idle).
function M.status()
  return require('ollama_agent.commands').status()
end

return M
