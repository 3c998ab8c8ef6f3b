//! Calls from the Rust core into `simul/_glue.py` (cold paths: formatting, reporting) and
//! the few Python objects the hot paths need, looked up once per interpreter.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::handle::Call;

struct Glue {
    copy_context: Py<PyAny>,
    check_callback: Py<PyAny>,
    callback_source: Py<PyAny>,
    report_callback_error: Py<PyAny>,
    report_slow_callback: Py<PyAny>,
    function_type: Py<PyType>,
    method_type: Py<PyType>,
}

static GLUE: PyOnceLock<Glue> = PyOnceLock::new();

fn glue(py: Python<'_>) -> PyResult<&Glue> {
    GLUE.get_or_try_init(py, || {
        let m = py.import("simul._glue")?;
        let get = |n: &str| m.getattr(n).map(Bound::unbind);
        let types = py.import("types")?;
        Ok(Glue {
            copy_context: get("copy_context")?,
            check_callback: get("check_callback")?,
            callback_source: get("callback_source")?,
            report_callback_error: get("report_callback_error")?,
            report_slow_callback: get("report_slow_callback")?,
            function_type: types
                .getattr("FunctionType")?
                .cast_into::<PyType>()?
                .unbind(),
            method_type: types.getattr("MethodType")?.cast_into::<PyType>()?.unbind(),
        })
    })
}

/// `contextvars.copy_context()`.
pub(crate) fn copy_context(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(glue(py)?.copy_context.bind(py).call0()?.unbind())
}

/// asyncio's `_check_callback`: `TypeError` for a coroutine (function) or a non-callable.
/// Only Python functions and methods can be coroutine functions, so other callables (the
/// C task's step wrappers, bound builtins) skip the Python-level check.
pub(crate) fn check_callback(py: Python<'_>, cb: &Bound<'_, PyAny>, method: &str) -> PyResult<()> {
    let g = glue(py)?;
    let ty = cb.get_type();
    if cb.is_callable() && !ty.is(g.function_type.bind(py)) && !ty.is(g.method_type.bind(py)) {
        return Ok(());
    }
    g.check_callback.bind(py).call1((cb, method))?;
    Ok(())
}

/// `cb(args) at file:line` for a handle's repr.
pub(crate) fn callback_source(py: Python<'_>, call: &Call) -> Option<String> {
    let g = glue(py).ok()?;
    g.callback_source
        .bind(py)
        .call1((call.callback.bind(py), call.args.tuple(py).ok()?))
        .and_then(|s| s.extract::<String>())
        .ok()
}

/// Reports a callback's exception through the loop's exception handler.
pub(crate) fn report_callback_error(
    py: Python<'_>,
    handle: &Bound<'_, PyAny>,
    call: &Call,
    err: PyErr,
) {
    let res = glue(py).and_then(|g| {
        g.report_callback_error
            .bind(py)
            .call1((
                handle,
                call.callback.bind(py),
                call.args.tuple(py)?,
                err.into_value(py),
            ))
            .map(drop)
    });
    if let Err(e) = res {
        // The exception handler itself failed: asyncio prints it; so do we.
        e.print(py);
    }
}

/// Debug mode: logs a callback slower than `slow_callback_duration`.
pub(crate) fn report_slow_callback(
    py: Python<'_>,
    handle: &Bound<'_, PyAny>,
    callback: &Py<PyAny>,
    took: f64,
) {
    let res = glue(py).and_then(|g| {
        g.report_slow_callback
            .bind(py)
            .call1((handle, callback.bind(py), took))
            .map(drop)
    });
    if let Err(e) = res {
        e.print(py);
    }
}
