/** The owner's share dialog: add people as editors or viewers, change roles, remove them. */

import { ApiError, api, type Member, type Role } from '../api'
import { h, icon, replaceChildren } from '../dom'
import { avatar } from './avatar'
import { dialog } from './dialog'
import { ICONS } from './icons'
import { toast } from './toast'

function roleSelect(id: string, value: Role, label: string, onchange?: (role: Role) => void): HTMLSelectElement {
  const select = h(
    'select',
    { id, 'aria-label': label },
    h('option', { value: 'editor' }, 'Editor'),
    h('option', { value: 'viewer' }, 'Viewer'),
  )
  select.value = value
  if (onchange) select.addEventListener('change', () => onchange(select.value as Role))
  return select
}

/** Opens the dialog; the people it changes are told through their notifications. */
export function openShareDialog(documentId: string, title: string): void {
  const d = dialog(`Share “${title}”`)
  const list = h('ul', { class: 'members', 'aria-label': 'People with access', 'aria-busy': 'true' })
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true })
  const username = h('input', {
    id: 'share-username',
    autocomplete: 'off',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
    autofocus: true,
    placeholder: 'their username',
  })
  const role = roleSelect('share-role', 'editor', 'Role')
  const add = h('button', { type: 'submit', class: 'button primary' }, 'Add')

  const fail = (e: unknown): void => {
    error.hidden = false
    error.textContent =
      e instanceof ApiError ? (e.field('username') ?? e.field('role') ?? e.message) : 'Something went wrong.'
  }

  const load = async (): Promise<void> => {
    try {
      render(await api.members(documentId))
    } catch (e) {
      fail(e)
    } finally {
      list.removeAttribute('aria-busy')
    }
  }

  const render = (members: Member[]): void => {
    replaceChildren(
      list,
      members.map((member) => {
        const controls =
          member.role === 'owner'
            ? h('span', { class: 'badge role-owner' }, 'Owner')
            : h(
                'div',
                { class: 'member-controls' },
                roleSelect(`role-${member.username}`, member.role, `Role for ${member.username}`, async (next) => {
                  error.hidden = true
                  try {
                    await api.setRole(documentId, member.username, next)
                    toast(`${member.username} is now ${next === 'editor' ? 'an editor' : 'a viewer'}.`)
                  } catch (e) {
                    fail(e)
                    await load()
                  }
                }),
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'icon-button danger',
                    'aria-label': `Remove ${member.username}`,
                    title: 'Remove',
                    onclick: async () => {
                      error.hidden = true
                      try {
                        await api.removeMember(documentId, member.username)
                        toast(`${member.username} no longer has access.`)
                        await load()
                      } catch (e) {
                        fail(e)
                      }
                    },
                  },
                  icon(ICONS.close),
                ),
              )
        return h(
          'li',
          { class: 'member', 'data-username': member.username },
          avatar(member.username),
          h('span', { class: 'member-name' }, member.username),
          controls,
        )
      }),
    )
  }

  d.body.append(
    h(
      'form',
      {
        class: 'share-form',
        onsubmit: async (event: Event) => {
          event.preventDefault()
          error.hidden = true
          const name = username.value.trim()
          if (!name) return
          add.disabled = true
          try {
            await api.addMember(documentId, name, role.value as Role)
            toast(`Shared with ${name}.`)
            username.value = ''
            await load()
          } catch (e) {
            fail(e)
          } finally {
            add.disabled = false
          }
        },
      },
      h('div', { class: 'field grow' }, h('label', { for: 'share-username' }, 'Add people by username'), username),
      h('div', { class: 'field' }, h('label', { for: 'share-role' }, 'Role'), role),
      add,
    ),
    error,
    h('h3', { class: 'section-title' }, 'People with access'),
    list,
    h('p', { class: 'hint' }, 'Editors can write and rename. Viewers can read and see everyone’s cursors.'),
  )
  d.open()
  void load()
}
