/** The editor at /d/<id>: TipTap on the shared Y.XmlFragment "default", live over y-websocket. */

import { Editor } from '@tiptap/core'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { Placeholder } from '@tiptap/extensions'
import StarterKit from '@tiptap/starter-kit'

import { ApiError, api, type DocumentRow, type Role } from '../api'
import { colorFor } from '../colors'
import { DocumentConnection } from '../connection'
import { h, icon, replaceChildren } from '../dom'
import { safeHref } from '../links'
import { accessToken, session } from '../session'
import { describeStatus, type StatusFacts } from '../status'
import { dialog } from '../ui/dialog'
import { historyPanel, type HistoryPanel } from '../ui/historyPanel'
import { ICONS } from '../ui/icons'
import { presenceBar } from '../ui/presence'
import { roleBadge } from '../ui/roleBadge'
import { openShareDialog } from '../ui/share'
import { toast } from '../ui/toast'
import { toolbar } from '../ui/toolbar'
import { accountMenu } from '../ui/topbar'
import type { Page } from './page'

const ROLE_POLL_MS = 30_000


/** Another person's caret with their name; hidden from screen readers (the presence list names them). */
function renderCaret(user: Record<string, unknown>): HTMLElement {
  const color = typeof user.color === 'string' && /^#[0-9a-f]{6}$/i.test(user.color) ? user.color : '#5b6472'
  return h('span', { class: 'collaboration-carets__caret', style: `border-color: ${color}`, 'aria-hidden': 'true' },
    h('span', { class: 'collaboration-carets__label', style: `background-color: ${color}` }, String(user.name ?? '')))
}

export function editorPage(documentId: string): Page {
  const element = h('div', { class: 'shell editor-shell' },
    h('main', { class: 'centered' }, h('p', { class: 'muted loading', role: 'status' }, 'Opening the document…')))
  let teardown: (() => void) | null = null
  let destroyed = false

  void (async () => {
    let doc: DocumentRow
    try {
      doc = await api.document(documentId)
    } catch (e) {
      if (destroyed) return
      const missing = e instanceof ApiError && e.status === 404
      replaceChildren(element, h('main', { class: 'centered' },
        h('div', { class: 'card narrow' },
          h('h1', {}, missing ? 'Document not found' : 'Could not open the document'),
          h('p', { class: 'muted' }, missing ? 'It does not exist, or it has not been shared with you.' : e instanceof Error ? e.message : ''),
          h('a', { href: '/', class: 'button primary', 'data-link': true }, 'Back to your documents'))))
      return
    }
    const token = await accessToken()
    if (destroyed || !token) return
    teardown = mountEditor(element, doc, token)
  })()

  return {
    title: 'Document',
    element,
    destroy() {
      destroyed = true
      teardown?.()
    },
  }
}

function mountEditor(root: HTMLElement, doc: DocumentRow, token: string): () => void {
  const name = session()?.username ?? 'Someone'
  let role: Role = doc.role
  let title = doc.title
  const canEdit = (): boolean => role !== 'viewer'
  document.title = `${title} · Tandem`

  const statusPill = h('div', { class: 'status', 'data-state': 'connecting' },
    h('span', { class: 'status-dot', 'aria-hidden': 'true' }), h('span', { class: 'status-label' }, 'Connecting…'))
  // Screen readers hear when the connection's kind of state changes, not every "Saving…".
  const announcer = h('span', { class: 'sr-only', role: 'status' })
  const group = (state: string): string => (['saved', 'saving', 'connected'].includes(state) ? 'live' : state === 'unsynced' ? 'offline' : state)
  let announced = 'connecting'
  let ended = false
  const renderStatus = (facts: StatusFacts): void => {
    const view = describeStatus(facts)
    if (!ended && (facts.link === 'denied' || facts.link === 'signed-out')) {
      // Access revoked, document deleted or session over: keep the text on screen, stop editing.
      ended = true
      lockEditor(view.detail, h('a', { href: '/', 'data-link': true }, 'Back to your documents'))
    } else if (!ended && facts.tooLarge) {
      // The server refused a change as too large: the text stays here to be copied, unsaved.
      ended = true
      lockEditor(view.detail,
        h('button', { type: 'button', class: 'button', onclick: () => void copyText() }, 'Copy the text'),
        h('button', { type: 'button', class: 'button', onclick: () => location.reload() }, 'Reload'))
    }
    if (group(view.state) !== announced) {
      if (announced !== 'connecting' || group(view.state) !== 'live') announcer.textContent = `${view.label}. ${view.detail}`
      announced = group(view.state)
    }
    statusPill.dataset.state = view.state
    statusPill.title = view.detail
    statusPill.querySelector('.status-label')!.textContent = view.label
  }

  const connection = new DocumentConnection(doc.id, token, {
    change: renderStatus,
    denied: () => void refreshRole(),
  })

  const surface = h('div', { class: 'paper' })
  const editor = new Editor({
    element: surface,
    editable: canEdit(),
    extensions: [
      StarterKit.configure({
        undoRedo: false,
        heading: { levels: [1, 2, 3] },
        link: { openOnClick: false, autolink: true, defaultProtocol: 'https', protocols: ['http', 'https', 'mailto'] },
      }),
      Placeholder.configure({ placeholder: () => (canEdit() ? 'Start writing…' : 'This document is empty.') }),
      Collaboration.configure({ document: connection.doc, field: 'default' }),
      CollaborationCaret.configure({ provider: connection.provider, user: { name, color: colorFor(name) }, render: renderCaret }),
    ],
    editorProps: {
      attributes: {
        id: 'editor-text',
        class: 'prose',
        'aria-label': 'Document text',
        'aria-multiline': 'true',
        role: 'textbox',
      },
      handleKeyDown: (_view, event) => {
        if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'k') {
          event.preventDefault()
          editLink()
          return true
        }
        return false
      },
    },
  })

  const editLink = (): void => {
    if (!editor.isEditable) return
    const current = (editor.getAttributes('link').href as string | undefined) ?? ''
    const d = dialog(current ? 'Edit link' : 'Add link', { onClose: () => editor.commands.focus() })
    const input = h('input', { id: 'link-href', type: 'url', value: current, placeholder: 'https://example.com', autofocus: true })
    d.body.append(h('form', {
      class: 'stack',
      onsubmit: (event: Event) => {
        event.preventDefault()
        const href = safeHref(input.value)
        const chain = editor.chain().focus().extendMarkRange('link')
        if (!href) chain.unsetLink().run()
        else if (editor.state.selection.empty && !current) chain.insertContent({ type: 'text', text: href, marks: [{ type: 'link', attrs: { href } }] }).run()
        else chain.setLink({ href }).run()
        d.close()
      },
    },
      h('div', { class: 'field' }, h('label', { for: 'link-href' }, 'Link address'), input),
      h('div', { class: 'dialog-actions' },
        current ? h('button', { type: 'button', class: 'button', onclick: () => { editor.chain().focus().extendMarkRange('link').unsetLink().run(); d.close() } }, 'Remove link') : null,
        h('button', { type: 'button', class: 'button', onclick: () => d.close() }, 'Cancel'),
        h('button', { type: 'submit', class: 'button primary' }, 'Apply'))))
    d.open()
  }

  const tools = toolbar(editor, editLink)
  const endedBanner = h('p', { class: 'banner ended', role: 'alert', hidden: true })
  const lockEditor = (message: string, ...actions: HTMLElement[]): void => {
    editor.setEditable(false)
    tools.element.hidden = true
    banner.hidden = true
    historyButton.hidden = true
    shareButton.hidden = true
    badgeSlot.hidden = true
    if (history.isOpen) history.close()
    endedBanner.hidden = false
    replaceChildren(endedBanner, icon(ICONS.lock), h('span', {}, message, ' '), h('span', { class: 'banner-actions' }, actions))
  }
  // Both kinds, so a paste back into an editor keeps the headings and lists.
  const copyText = async (): Promise<void> => {
    try {
      await navigator.clipboard.write([new ClipboardItem({
        'text/html': new Blob([editor.getHTML()], { type: 'text/html' }),
        'text/plain': new Blob([editor.getText({ blockSeparator: '\n\n' })], { type: 'text/plain' }),
      })])
      toast('Copied. Paste it somewhere safe before you reload.')
    } catch {
      window.getSelection()?.selectAllChildren(editor.view.dom)
      toast('The text is selected: press Ctrl+C (⌘C on a Mac) to copy it.')
    }
  }
  const presence = presenceBar(connection.provider.awareness)

  // Title: editors and owners rename in place.
  const titleInput = h('input', { class: 'title-input', 'aria-label': 'Document title', value: title, maxlength: 200 })
  const titleText = h('span', { class: 'title-text' }, title)
  const commitTitle = async (): Promise<void> => {
    const next = titleInput.value.trim()
    if (!next || next === title) {
      titleInput.value = title
      return
    }
    try {
      const row = await api.renameDocument(doc.id, next)
      title = row.title
      document.title = `${title} · Tandem`
      toast('Renamed.')
      announceRoles() // the others re-read the document row, title included
    } catch (e) {
      titleInput.value = title
      toast(e instanceof ApiError ? e.message : 'Could not rename.', 'error')
    }
  }
  titleInput.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault()
      editor.commands.focus()
    } else if (event.key === 'Escape') {
      titleInput.value = title
      editor.commands.focus()
    }
  })
  titleInput.addEventListener('blur', () => void commitTitle())

  const badgeSlot = h('span', { class: 'badge-slot' })
  const shareButton = h('button', { type: 'button', class: 'button', 'aria-label': 'Share', onclick: () => openShareDialog(doc.id, title, announceRoles) }, icon(ICONS.share), h('span', { class: 'label' }, 'Share'))
  const historyButton = h('button', { type: 'button', class: 'button', 'aria-label': 'History', 'aria-expanded': 'false', 'aria-controls': 'history-panel' }, icon(ICONS.history), h('span', { class: 'label' }, 'History'))
  const banner = h('p', { class: 'banner', role: 'note' }, icon(ICONS.lock), h('span', {}, `View only. You can read along and others see your cursor; ask ${doc.owner} for edit access.`))
  const content = h('div', { class: 'editor-content' }, surface)
  const history: HistoryPanel = historyPanel(doc.id, {
    canRestore: canEdit,
    showPreview: (node) => {
      surface.hidden = node !== null
      tools.element.hidden = node !== null || !canEdit()
      content.querySelector('.preview')?.remove()
      if (node) content.prepend(node)
    },
    onToggle: (open) => {
      historyButton.setAttribute('aria-expanded', String(open))
      root.classList.toggle('history-open', open)
      if (!open) historyButton.focus()
    },
  })
  history.element.id = 'history-panel'
  historyButton.addEventListener('click', () => (history.isOpen ? history.close() : history.open()))

  const applyRole = (): void => {
    if (ended) return
    editor.setEditable(canEdit())
    replaceChildren(badgeSlot, roleBadge(role))
    titleInput.hidden = !canEdit()
    titleText.hidden = canEdit()
    titleText.textContent = title
    titleInput.value = title
    tools.element.hidden = !canEdit() || content.querySelector('.preview') !== null
    banner.hidden = canEdit()
    shareButton.hidden = role !== 'owner'
    connection.setReadOnly(!canEdit())
    tools.update()
    root.dataset.role = role
  }

  // Roles change under us when the owner shares: the owner's client stamps its awareness
  // state, everyone else re-reads their role (and a poll covers clients that miss it).
  let roleStamp = 0
  const announceRoles = (): void => {
    connection.provider.awareness.setLocalStateField('rolesChangedAt', Date.now())
  }
  const refreshRole = async (): Promise<void> => {
    try {
      const row = await api.document(doc.id)
      title = row.title
      if (row.role !== role) {
        const before = role
        role = row.role
        applyRole()
        toast(`You are now ${role === 'viewer' ? 'a viewer' : role === 'editor' ? 'an editor' : 'the owner'} of this document.`)
        // The server reads the role when a socket opens: a new one carries the new role.
        if ((before === 'viewer') !== (role === 'viewer')) void connection.reconnect()
      } else {
        titleText.textContent = title
        if (document.activeElement !== titleInput) titleInput.value = title
        document.title = `${title} · Tandem`
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) connection.revoked()
    }
  }
  const onAwareness = (): void => {
    let newest = roleStamp
    for (const [clientId, state] of connection.provider.awareness.getStates()) {
      const stamp = (state as { rolesChangedAt?: unknown }).rolesChangedAt
      if (clientId !== connection.doc.clientID && typeof stamp === 'number' && stamp > newest) newest = stamp
    }
    if (newest > roleStamp) {
      roleStamp = newest
      void refreshRole()
    }
  }
  connection.provider.awareness.on('change', onAwareness)
  // An open history panel follows new changes (a quiet second after the last one).
  let historyTimer: ReturnType<typeof setTimeout> | undefined
  const onDocUpdate = (): void => {
    if (!history.isOpen) return
    clearTimeout(historyTimer)
    historyTimer = setTimeout(() => history.refresh(), 1500)
  }
  connection.doc.on('update', onDocUpdate)
  const poll = setInterval(() => void refreshRole(), ROLE_POLL_MS)
  const onFocus = (): void => void refreshRole()
  window.addEventListener('focus', onFocus)

  const header = h('header', { class: 'topbar editor-topbar' },
    h('a', { href: '/', class: 'icon-button back', 'data-link': true, 'aria-label': 'All documents', title: 'All documents' }, icon(ICONS.back)),
    h('div', { class: 'doc-heading' },
      h('h1', { class: 'sr-only' }, title),
      titleInput, titleText, badgeSlot),
    h('div', { class: 'editor-actions' }, statusPill, announcer, presence.element, historyButton, shareButton),
    accountMenu())

  replaceChildren(root,
    header,
    h('div', { class: 'editor-body' },
      h('main', { class: 'editor-main' }, endedBanner, banner, tools.element, content),
      history.element))
  applyRole()
  renderStatus(connection.facts())

  return () => {
    clearInterval(poll)
    clearTimeout(historyTimer)
    connection.doc.off('update', onDocUpdate)
    window.removeEventListener('focus', onFocus)
    connection.provider.awareness.off('change', onAwareness)
    presence.destroy()
    history.destroy()
    editor.destroy()
    connection.destroy()
  }
}
