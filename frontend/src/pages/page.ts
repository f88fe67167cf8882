/** What a route shows: an element to mount, the tab's title, and what to undo when it goes. */
export interface Page {
  element: HTMLElement
  title: string
  destroy?(): void
}
