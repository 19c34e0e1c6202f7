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

-- The commands live in ollama_agent.commands, loaded on first use so setup() stays cheap.
local function command(name)
  return function(...)
    return require('ollama_agent.commands')[name](...)
  end
end

--- Run the agent on a line range with an instruction (asks for it when nil).
M.run_selection = command('run_selection')

--- Run the agent on the last visual selection.
M.run_visual = command('run_visual')

--- Implement the TODO on the cursor line.
M.run_todo = command('run_todo')

--- Run the spec in the current buffer.
M.run_spec = command('run_spec')

--- Cancel a run (or all running runs).
M.cancel = command('cancel')

--- Undo a run (or the latest run).
M.undo = command('undo')

--- Pick the model with vim.ui.select.
M.select_model = command('select_model')

--- Open the transcript window.
function M.open_transcript()
  return require('ollama_agent.transcript').open()
end

--- The agent's progress for a statusline ('' when idle).
M.status = command('status')

return M
