/** The history panel: who changed the document when, a preview of any version, restore. */

import { generateHTML, generateJSON } from '@tiptap/core'
import Mention from '@tiptap/extension-mention'
import StarterKit from '@tiptap/starter-kit'

import { ApiError, api } from '../api'
import { h, icon, replaceChildren } from '../dom'
import { groupHistory, normalizeHistory, type HistoryGroup } from '../history'
import { exactTime, relativeTime } from '../time'
import { avatar } from './avatar'
import { confirmDialog } from './dialog'
import { ICONS } from './icons'
import { toast } from './toast'

export interface HistoryPanel {
  element: HTMLElement
  open(): void
  close(): void
  readonly isOpen: boolean
  refresh(): void
  destroy(): void
}

/**
 * `preview` shows a version in place of the live editor (or `null` to go back);
 * `canRestore` says whether the user may restore (editors and owners).
 */
export function historyPanel(
  documentId: string,
  options: {
    canRestore: () => boolean
    showPreview: (node: HTMLElement | null) => void
    onToggle: (open: boolean) => void
  },
): HistoryPanel {
  let isOpen = false
  let selected: number | null = null
  const list = h('ol', { class: 'history-list', 'aria-label': 'Versions' })
  const status = h('p', { class: 'muted history-status', role: 'status' })
  const element = h(
    'aside',
    { class: 'history', 'aria-labelledby': 'history-title', hidden: true },
    h(
      'header',
      { class: 'history-header' },
      h('h2', { id: 'history-title' }, 'History'),
      h(
        'button',
        { type: 'button', class: 'icon-button', 'aria-label': 'Close history', onclick: () => panel.close() },
        icon(ICONS.close),
      ),
    ),
    status,
    list,
  )

  const closePreview = (): void => {
    selected = null
    options.showPreview(null)
    for (const item of list.querySelectorAll('[aria-current]')) item.removeAttribute('aria-current')
  }

  const preview = async (entry: HistoryGroup, button: HTMLElement): Promise<void> => {
    selected = entry.seq
    for (const item of list.querySelectorAll('[aria-current]')) item.removeAttribute('aria-current')
    button.setAttribute('aria-current', 'true')
    try {
      const version = await api.version(documentId, entry.seq)
      if (selected !== entry.seq) return
      // A round trip through the editor's schema keeps only known, safe nodes and marks.
      const extensions = [StarterKit, Mention.configure({ HTMLAttributes: { class: 'mention' } })]
      const body = h('div', { class: 'prose preview-text' })
      body.innerHTML = generateHTML(
        generateJSON(version.html || `<p>${escapeHtml(version.text)}</p>`, extensions),
        extensions,
      )
      const surface = h('div', { class: 'paper preview-paper' }, body)
      const restore = options.canRestore()
        ? h(
            'button',
            {
              type: 'button',
              class: 'button primary',
              onclick: async () => {
                const ok = await confirmDialog(
                  'Restore this version?',
                  `The document will go back to how it was at version ${entry.seq}${entry.at ? ` (${exactTime(entry.at)})` : ''}. Everyone editing sees the change, and it can itself be undone from the history.`,
                  'Restore',
                )
                if (!ok) return
                try {
                  await api.restore(documentId, entry.seq)
                  toast(`Restored version ${entry.seq}.`)
                  closePreview()
                  panel.refresh()
                } catch (e) {
                  toast(e instanceof ApiError ? e.message : 'Could not restore.', 'error')
                }
              },
            },
            'Restore this version',
          )
        : null
      options.showPreview(
        h(
          'section',
          { class: 'preview', 'aria-label': `Preview of version ${entry.seq}` },
          h(
            'div',
            { class: 'preview-bar' },
            h(
              'div',
              {},
              h('strong', {}, `Version ${entry.seq}`),
              h(
                'span',
                { class: 'muted' },
                entry.at ? ` · ${exactTime(entry.at)}` : '',
                entry.user ? ` · ${entry.user}` : '',
              ),
            ),
            h(
              'div',
              { class: 'preview-actions' },
              h('button', { type: 'button', class: 'button', onclick: closePreview }, 'Back to editing'),
              restore,
            ),
          ),
          surface,
        ),
      )
    } catch (e) {
      toast(e instanceof ApiError ? e.message : 'Could not load that version.', 'error')
    }
  }

  const load = async (): Promise<void> => {
    status.textContent = 'Loading…'
    try {
      const entries = groupHistory(normalizeHistory(await api.history(documentId)))
      status.textContent = entries.length ? '' : 'No changes yet.'
      replaceChildren(
        list,
        entries.map((entry, index) => {
          const button = h(
            'button',
            { type: 'button', class: 'history-entry', 'data-seq': entry.seq },
            entry.user ? avatar(entry.user) : null,
            h(
              'span',
              { class: 'history-text' },
              h(
                'span',
                { class: 'history-who' },
                entry.user ?? 'Someone',
                index === 0 ? h('span', { class: 'badge' }, 'Current') : null,
              ),
              h(
                'span',
                { class: 'history-when' },
                entry.at ? h('time', { datetime: entry.at, title: exactTime(entry.at) }, relativeTime(entry.at)) : null,
                ` · ${entry.changes} change${entry.changes === 1 ? '' : 's'}`,
              ),
            ),
          )
          button.addEventListener('click', () => void preview(entry, button))
          if (entry.seq === selected) button.setAttribute('aria-current', 'true')
          return h('li', {}, button)
        }),
      )
    } catch (e) {
      status.textContent = e instanceof ApiError ? e.message : 'Could not load the history.'
    }
  }

  const panel: HistoryPanel = {
    element,
    get isOpen() {
      return isOpen
    },
    open() {
      isOpen = true
      element.hidden = false
      options.onToggle(true)
      void load()
      element.querySelector<HTMLElement>('h2')?.focus()
    },
    close() {
      isOpen = false
      element.hidden = true
      closePreview()
      options.onToggle(false)
    },
    refresh() {
      if (isOpen) void load()
    },
    destroy() {
      closePreview()
    },
  }
  return panel
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}
