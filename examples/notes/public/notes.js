// The notes page: list, search, create, edit and delete through the JSON API. Plain DOM code;
// every note's text goes in through textContent, never as HTML.
const $ = (id) => document.getElementById(id);
const form = $('note-form');
const idField = $('note-id');
const titleField = $('note-title');
const bodyField = $('note-body');
const submit = $('note-submit');
const cancel = $('note-cancel');
const search = $('search');
const list = $('notes');
const errorBox = $('error');

async function api(method, path, body) {
  const init = { method, headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const data = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error(data?.error ?? `${res.status} ${res.statusText}`);
  return data;
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = message === '';
}

function noteItem(note) {
  const li = document.createElement('li');
  li.className = 'note';
  li.dataset.id = String(note.id);
  const title = document.createElement('h2');
  title.className = 'note-title';
  title.textContent = note.title;
  const body = document.createElement('p');
  body.className = 'note-body';
  body.textContent = note.body;
  const meta = document.createElement('p');
  meta.className = 'note-meta';
  meta.textContent = `#${note.id} · ${new Date(note.updatedAt).toLocaleString()}`;
  const actions = document.createElement('div');
  actions.className = 'actions';
  const edit = document.createElement('button');
  edit.type = 'button';
  edit.className = 'note-edit';
  edit.textContent = 'Edit';
  edit.addEventListener('click', () => startEdit(note));
  const del = document.createElement('button');
  del.type = 'button';
  del.className = 'note-delete';
  del.textContent = 'Delete';
  del.addEventListener('click', () => remove(note.id));
  actions.append(edit, del);
  li.append(title, body, meta, actions);
  return li;
}

async function refresh() {
  const q = search.value.trim();
  const data = await api('GET', `/api/notes${q === '' ? '' : `?q=${encodeURIComponent(q)}`}`);
  list.replaceChildren(...data.notes.map(noteItem));
  $('notes-count').textContent = q === '' ? `${data.total} note${data.total === 1 ? '' : 's'}` : `${data.total} found for “${q}”`;
  $('notes-empty').hidden = data.total > 0 || q !== '';
}

function startEdit(note) {
  idField.value = String(note.id);
  titleField.value = note.title;
  bodyField.value = note.body;
  submit.textContent = 'Save';
  cancel.hidden = false;
  titleField.focus();
}

function resetForm() {
  form.reset();
  idField.value = '';
  submit.textContent = 'Add note';
  cancel.hidden = true;
}

async function remove(id) {
  try {
    await api('DELETE', `/api/notes/${id}`);
    if (idField.value === String(id)) resetForm();
    showError('');
    await refresh();
  } catch (err) {
    showError(err.message);
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const note = { title: titleField.value, body: bodyField.value };
  try {
    if (idField.value === '') await api('POST', '/api/notes', note);
    else await api('PUT', `/api/notes/${idField.value}`, note);
    resetForm();
    showError('');
    await refresh();
  } catch (err) {
    showError(err.message);
  }
});

cancel.addEventListener('click', () => { resetForm(); showError(''); });

let pending = null;
search.addEventListener('input', () => {
  clearTimeout(pending);
  pending = setTimeout(() => refresh().catch((err) => showError(err.message)), 150);
});
$('search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  refresh().catch((err) => showError(err.message));
});

api('GET', '/api/info').then((info) => {
  $('info').textContent = `Stored in ${info.database} (${info.driver} ${info.version}); this answer came from worker thread ${info.thread}.`;
}).catch(() => {});
refresh().catch((err) => showError(err.message));
