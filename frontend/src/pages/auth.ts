/** Log in and create an account. */

import { ApiError, api } from '../api'
import { h } from '../dom'
import { navigate } from '../router'
import { signIn } from '../session'
import { brand } from '../ui/brand'
import type { Page } from './page'

export function authPage(mode: 'login' | 'register', next: string): Page {
  const registering = mode === 'register'
  const errorBox = h('p', { class: 'form-error', role: 'alert', hidden: true })
  const username = h('input', {
    id: 'username',
    name: 'username',
    autocomplete: 'username',
    required: true,
    autocapitalize: 'none',
    spellcheck: 'false',
    autofocus: true,
    maxlength: 150,
  })
  const password = h('input', {
    id: 'password',
    name: 'password',
    type: 'password',
    required: true,
    autocomplete: registering ? 'new-password' : 'current-password',
    'aria-describedby': registering ? 'password-hint' : undefined,
  })
  const usernameError = h('p', { class: 'field-error', id: 'username-error', hidden: true })
  const passwordError = h('p', { class: 'field-error', id: 'password-error', hidden: true })
  const submit = h(
    'button',
    { type: 'submit', class: 'button primary wide' },
    registering ? 'Create account' : 'Log in',
  )

  const showError = (el: HTMLElement, input: HTMLInputElement, message: string | undefined): void => {
    el.hidden = !message
    el.textContent = message ?? ''
    input.toggleAttribute('aria-invalid', Boolean(message))
    if (message) input.setAttribute('aria-errormessage', el.id)
  }

  const form = h(
    'form',
    {
      class: 'stack',
      novalidate: true,
      onsubmit: async (event: Event) => {
        event.preventDefault()
        errorBox.hidden = true
        showError(usernameError, username, undefined)
        showError(passwordError, password, undefined)
        if (!username.value.trim() || !password.value) {
          errorBox.hidden = false
          errorBox.textContent = 'Enter a username and a password.'
          return
        }
        submit.disabled = true
        submit.setAttribute('aria-busy', 'true')
        try {
          const name = username.value.trim()
          if (registering) await api.register(name, password.value)
          const tokens = await api.token(name, password.value)
          signIn(name, tokens.access, tokens.refresh)
          navigate(next, { replace: true })
        } catch (error) {
          const apiError = error instanceof ApiError ? error : null
          if (apiError?.status === 401) {
            errorBox.textContent = 'That username and password do not match an account.'
          } else if (apiError?.status === 400 && (apiError.field('username') || apiError.field('password'))) {
            showError(usernameError, username, apiError.field('username'))
            showError(passwordError, password, apiError.field('password'))
            errorBox.textContent = 'Please fix the highlighted fields.'
          } else {
            errorBox.textContent = apiError?.message ?? 'Something went wrong. Please try again.'
          }
          errorBox.hidden = false
        } finally {
          submit.disabled = false
          submit.removeAttribute('aria-busy')
        }
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'username' }, 'Username'), username, usernameError),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'password' }, 'Password'),
      password,
      registering
        ? h(
            'p',
            { class: 'hint', id: 'password-hint' },
            'At least 8 characters, not only digits, not a common password.',
          )
        : null,
      passwordError,
    ),
    errorBox,
    submit,
  )

  const otherHref = (registering ? '/login' : '/register') + (next !== '/' ? `?next=${encodeURIComponent(next)}` : '')
  const element = h(
    'main',
    { class: 'auth' },
    h(
      'div',
      { class: 'auth-card card' },
      brand(),
      h('h1', {}, registering ? 'Create your account' : 'Welcome back'),
      h('p', { class: 'muted' }, registering ? 'Write together, in real time.' : 'Log in to your documents.'),
      form,
      h(
        'p',
        { class: 'switch' },
        registering ? 'Already have an account? ' : 'New to Tandem? ',
        h('a', { href: otherHref, 'data-link': true }, registering ? 'Log in' : 'Create an account'),
      ),
    ),
  )
  return { title: registering ? 'Create account' : 'Log in', element }
}
