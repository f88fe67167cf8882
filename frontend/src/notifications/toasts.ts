/** Live notifications as toasts; what a reconnect replays is summed up rather than shown one by one. */

import { toast } from '../ui/toast'
import { notifications } from './hub'
import { describeNotification, type Notification } from './model'

const TOAST_MS = 6000
/** More replayed notifications than this make one summary toast. */
const REPLAY_TOASTS = 3

export function startNotificationToasts(): void {
  let replayed: Notification[] = []
  notifications.subscribe((event) => {
    if (event.kind === 'notification') {
      if (event.live) toast(describeNotification(event.notification), 'info', TOAST_MS)
      else replayed.push(event.notification)
    } else if (event.kind === 'ready') {
      const missed = replayed.filter((n) => !n.read)
      replayed = []
      if (missed.length > REPLAY_TOASTS) {
        toast(`${missed.length} new notifications while you were away.`, 'info', TOAST_MS)
      } else {
        for (const n of missed) toast(describeNotification(n), 'info', TOAST_MS)
      }
    }
  })
}
