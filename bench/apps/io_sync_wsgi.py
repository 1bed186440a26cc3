# Scenario `io-sync` for gunicorn (bench/threads.mjs's anchor): GET /io-sync -> a synchronous
# WSGI handler that waits 10 ms with time.sleep and answers like bench/apps/io-sync.mjs
# (`waited 10 ms\n`, text/plain). Run under `gunicorn -k gevent`, whose worker monkey-patches
# the time module, so the sleep parks one greenlet instead of the worker process: gunicorn's
# answer to blocking handlers. time.sleep is looked up on every call, so the patch applies
# whenever it happens. Any other path is a 404, as in the Node apps.
# Usage: python3 -m gunicorn -k gevent -w 2 --chdir bench/apps io_sync_wsgi:app
import time

IO_S = 0.010
BODY = b'waited 10 ms\n'
HEADERS = [('Content-Type', 'text/plain'), ('Content-Length', str(len(BODY)))]
NOT_FOUND = b'Not Found\n'


def app(environ, start_response):
    if environ.get('PATH_INFO') != '/io-sync':
        start_response('404 Not Found', [('Content-Type', 'text/plain'), ('Content-Length', str(len(NOT_FOUND)))])
        return [NOT_FOUND]
    time.sleep(IO_S)
    start_response('200 OK', HEADERS)
    return [BODY]
