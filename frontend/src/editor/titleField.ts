/** The document's title in the header: editors and owners rename it in place, viewers read it. */

import { ApiError, api } from '../api'
import { h } from '../dom'
import { toast } from '../ui/toast'
import type { EditorState } from './state'

export interface TitleField {
  input: HTMLInputElement
  text: HTMLElement
  /** Show the field (editable) or the text, both holding the current title. */
  show(editable: boolean): void
  /** Show a title someone else set, without overwriting one being typed. */
  follow(): void
}

export function titleField(state: EditorState, options: { focusEditor: () => void }): TitleField {
  const input = h('input', { class: 'title-input', 'aria-label': 'Document title', value: state.title, maxlength: 200 })
  const text = h('span', { class: 'title-text' }, state.title)
  const commit = async (): Promise<void> => {
    const next = input.value.trim()
    if (!next || next === state.title) {
      input.value = state.title
      return
    }
    try {
      const row = await api.renameDocument(state.documentId, next)
      state.title = row.title
      document.title = `${state.title} · Tandem`
      toast('Renamed.') // the members hear of it through their notifications
    } catch (e) {
      input.value = state.title
      toast(e instanceof ApiError ? e.message : 'Could not rename.', 'error')
    }
  }
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault()
      options.focusEditor()
    } else if (event.key === 'Escape') {
      input.value = state.title
      options.focusEditor()
    }
  })
  input.addEventListener('blur', () => void commit())
  return {
    input,
    text,
    show(editable) {
      input.hidden = !editable
      text.hidden = editable
      text.textContent = state.title
      input.value = state.title
    },
    follow() {
      text.textContent = state.title
      if (document.activeElement !== input) input.value = state.title
      document.title = `${state.title} · Tandem`
    },
  }
}
