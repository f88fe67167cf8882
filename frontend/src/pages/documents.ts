/** The document list: own and shared documents, with create, rename and delete; notifications keep it current. */

import { ApiError, api, type DocumentRow } from '../api'
import { h, icon, replaceChildren } from '../dom'
import { notifications } from '../notifications/hub'
import { addRow, applyToList, type Notification } from '../notifications/model'
import { navigate } from '../router'
import { session } from '../session'
import { exactTime, relativeTime } from '../time'
import { confirmDialog, dialog } from '../ui/dialog'
import { ICONS } from '../ui/icons'
import { roleBadge } from '../ui/roleBadge'
import { toast } from '../ui/toast'
import { topbar } from '../ui/topbar'
import type { Page } from './page'

function titleDialog(heading: string, initial: string, action: string, submit: (title: string) => Promise<void>): void {
  const d = dialog(heading)
  const input = h('input', { id: 'doc-title', value: initial, maxlength: 200, required: true, autofocus: true })
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true })
  const button = h('button', { type: 'submit', class: 'button primary' }, action)
  d.body.append(
    h(
      'form',
      {
        class: 'stack',
        onsubmit: async (event: Event) => {
          event.preventDefault()
          const title = input.value.trim()
          if (!title) {
            error.hidden = false
            error.textContent = 'A document needs a title.'
            return
          }
          button.disabled = true
          try {
            await submit(title)
            d.close()
          } catch (e) {
            error.hidden = false
            error.textContent = e instanceof ApiError ? (e.field('title') ?? e.message) : 'Something went wrong.'
          } finally {
            button.disabled = false
          }
        },
      },
      h('div', { class: 'field' }, h('label', { for: 'doc-title' }, 'Title'), input),
      error,
      h(
        'div',
        { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'button', onclick: () => d.close() }, 'Cancel'),
        button,
      ),
    ),
  )
  d.open()
  input.select()
}

export function documentsPage(): Page {
  const list = h(
    'div',
    { class: 'doc-list', 'aria-busy': 'true' },
    h('p', { class: 'muted loading' }, 'Loading your documents…'),
  )
  const me = session()?.username ?? ''
  /** The rows on screen; null until the first load. */
  let rows: DocumentRow[] | null = null
  /** Notifications that came while the list was loading, applied once it is here. */
  let early: Notification[] = []

  const load = async (): Promise<void> => {
    try {
      const loaded = await api.documents()
      list.removeAttribute('aria-busy')
      rows = loaded
      const pending = early
      early = []
      render(rows)
      for (const n of pending) follow(n)
    } catch (e) {
      list.removeAttribute('aria-busy')
      replaceChildren(
        list,
        h('p', { class: 'form-error', role: 'alert' }, e instanceof Error ? e.message : 'Could not load documents.'),
      )
    }
  }

  /** Shared, renamed, role changed, removed or deleted: the list follows without a reload. */
  const follow = (n: Notification): void => {
    if (rows === null) {
      early.push(n)
      return
    }
    const change = applyToList(rows, n)
    rows = change.rows
    render(rows)
    if (change.fetch) void fetchShared(change.fetch)
  }

  const fetchShared = async (id: string): Promise<void> => {
    try {
      const row = await api.document(id)
      if (rows !== null && !destroyed) {
        rows = addRow(rows, row)
        render(rows)
      }
    } catch {
      // Gone again before we asked (removed or deleted): a later notification says so.
    }
  }

  const render = (rows: DocumentRow[]): void => {
    if (rows.length === 0) {
      replaceChildren(
        list,
        h(
          'div',
          { class: 'empty' },
          icon(ICONS.doc),
          h('h2', {}, 'No documents yet'),
          h('p', { class: 'muted' }, 'Create one, then share it to write together.'),
          newButton(),
        ),
      )
      return
    }
    replaceChildren(list, h('ul', { class: 'rows', 'aria-label': 'Documents' }, rows.map(row)))
  }

  const row = (doc: DocumentRow): HTMLElement => {
    const actions = h('div', { class: 'row-actions' })
    if (doc.role !== 'viewer') {
      actions.append(
        h(
          'button',
          {
            type: 'button',
            class: 'icon-button',
            'aria-label': `Rename ${doc.title}`,
            title: 'Rename',
            onclick: () =>
              titleDialog('Rename document', doc.title, 'Rename', async (title) => {
                await api.renameDocument(doc.id, title)
                toast('Renamed.')
                await load()
              }),
          },
          icon(ICONS.pencil),
        ),
      )
    }
    if (doc.role === 'owner') {
      actions.append(
        h(
          'button',
          {
            type: 'button',
            class: 'icon-button danger',
            'aria-label': `Delete ${doc.title}`,
            title: 'Delete',
            onclick: async () => {
              const ok = await confirmDialog(
                'Delete document?',
                `“${doc.title}” will be deleted for everyone it is shared with. This cannot be undone.`,
                'Delete',
                true,
              )
              if (!ok) return
              try {
                await api.deleteDocument(doc.id)
                toast('Deleted.')
                await load()
              } catch (e) {
                toast(e instanceof Error ? e.message : 'Could not delete.', 'error')
              }
            },
          },
          icon(ICONS.trash),
        ),
      )
    }
    if (doc.role !== 'owner') {
      actions.append(
        h(
          'button',
          {
            type: 'button',
            class: 'icon-button',
            'aria-label': `Leave ${doc.title}`,
            title: 'Leave',
            onclick: async () => {
              const ok = await confirmDialog(
                'Leave document?',
                `You will lose access to “${doc.title}” until ${doc.owner} shares it again.`,
                'Leave',
              )
              if (!ok) return
              try {
                await api.removeMember(doc.id, me)
                toast('You left the document.')
                await load()
              } catch (e) {
                toast(e instanceof Error ? e.message : 'Could not leave.', 'error')
              }
            },
          },
          icon(ICONS.logout),
        ),
      )
    }
    return h(
      'li',
      { class: 'row', 'data-document-id': doc.id },
      h(
        'a',
        { href: `/d/${doc.id}`, class: 'row-main', 'data-link': true },
        h('span', { class: 'row-icon' }, icon(ICONS.doc)),
        h(
          'span',
          { class: 'row-text' },
          h('span', { class: 'row-title' }, doc.title),
          h(
            'span',
            { class: 'row-meta' },
            doc.owner === me ? 'You' : doc.owner,
            ' · ',
            h(
              'time',
              { datetime: doc.updated_at, title: exactTime(doc.updated_at) },
              `edited ${relativeTime(doc.updated_at)}`,
            ),
          ),
        ),
      ),
      roleBadge(doc.role),
      actions,
    )
  }

  const newButton = (): HTMLElement =>
    h(
      'button',
      {
        type: 'button',
        class: 'button primary',
        onclick: () =>
          titleDialog('New document', 'Untitled document', 'Create', async (title) => {
            const doc = await api.createDocument(title)
            navigate(`/d/${doc.id}`)
          }),
      },
      icon(ICONS.plus),
      'New document',
    )

  const element = h(
    'div',
    { class: 'shell' },
    topbar(),
    h('main', { class: 'page' }, h('div', { class: 'page-head' }, h('h1', {}, 'Documents'), newButton()), list),
  )
  let destroyed = false
  const stop = notifications.subscribe((event) => {
    if (event.kind === 'notification') follow(event.notification)
  })
  void load()
  return {
    title: 'Documents',
    element,
    destroy: () => {
      destroyed = true
      stop()
    },
  }
}
