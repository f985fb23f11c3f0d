"""help() answers a user's first questions: every public function, class, method and property of
the modules users import says what it promises and shows it in a `>>>` example, and every
example is true (run by doctest against the output it prints).

The examples may use `Tensor`, `Value`, `dtypes`, `nn` and `np` without importing them (as after
`from tinygradlike import Tensor, Value, dtypes, nn` and `import numpy as np`), and run in a
scratch folder: an example that saves weights writes there."""
import ast
import doctest
import importlib
import inspect
import pydoc
from pathlib import Path

import numpy as np
import pytest

import tinygradlike
from tinygradlike import Tensor, Value, dtypes, nn, optim

MODULES = ["tensor", "nn", "scalar", "jit", "custom", "state", "datasets", "testing", "dtypes", "optim", "grad_mode", "lr_scheduler", "init", "models", "distributed", "parallel"]
# exported by tinygradlike but documented by their owners' tests, not here: runtime (stats,
# reset_stats, profile) is checked for a docstring only
EXAMPLE_GLOBALS = {"Tensor": Tensor, "Value": Value, "dtypes": dtypes, "nn": nn, "np": np, "optim": optim}
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def module(name: str):
    # importlib, not tinygradlike.<name>: tinygradlike.jit and .dtypes are the exported objects
    return importlib.import_module(f"tinygradlike.{name}")


def public_members(mod) -> list[tuple[str, object, object]]:
    """(qualified name, object, class or None) for each public function, class, method and
    property that `mod` defines; a class's methods include those inherited from a class defined
    outside our modules (Value's backward, data, grad come from the compiled ScalarNode)."""
    found, seen = [], set()
    for name, obj in vars(mod).items():
        if name.startswith("_") or id(obj) in seen or getattr(obj, "__module__", None) != mod.__name__:
            continue
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue  # constants (SHAPES, DIGITS_PATH, ...) and type aliases
        seen.add(id(obj))
        found.append((name if inspect.isfunction(obj) else obj.__qualname__, obj, None))
        if inspect.isclass(obj):
            found.extend((f"{obj.__qualname__}.{m}", member, obj) for m, member in class_members(obj))
    return found


def class_members(cls) -> list[tuple[str, object]]:
    """(name, member) of the public methods, properties and slots help(cls) shows that cls defines
    or inherits from a class outside our modules."""
    ours = {f"tinygradlike.{m}" for m in MODULES}
    members = {}
    for klass in reversed(cls.__mro__[:-1]):
        if klass is cls or klass.__module__ not in ours and klass.__module__ != "builtins":  # not dict's own
            for name, attr in vars(klass).items():
                if isinstance(attr, staticmethod):
                    attr = attr.__func__
                routine = inspect.isroutine(attr) or inspect.isdatadescriptor(attr)
                if not name.startswith("_") and routine:
                    members[name] = getattr(cls, name) if inspect.isroutine(attr) else attr
    return sorted(members.items())


def examples_in(doc: str) -> list[str]:
    return [line.strip()[4:] for line in doc.splitlines() if line.strip().startswith(">>> ")]


def offenders(mod) -> list[str]:
    bad = []
    for qualname, obj, owner in public_members(mod):
        doc = inspect.getdoc(obj) or ""  # getdoc: an override without one shows its base's in help()
        if not doc.strip():
            bad.append(f"{qualname}: no docstring")
        elif not examples_in(doc):
            name = qualname.rsplit(".", 1)[-1]
            # a slot (Tensor.grad) or a member inherited from the compiled core (Value.backward)
            # cannot hold an example: it is shown in its class's examples instead
            in_class = owner is not None and any(f".{name}" in line for line in examples_in(inspect.getdoc(owner)))
            if not in_class:
                bad.append(f"{qualname}: no >>> example")
    return bad


@pytest.mark.parametrize("name", MODULES)
def test_every_public_name_has_a_docstring_with_an_example(name):
    bad = offenders(module(name))
    assert not bad, f"tinygradlike.{name}: {len(bad)} public names lack a docstring or example:\n" + "\n".join(bad)


UNDOCUMENTED = '''
def bare(): pass

def told():
    "Says what it does, shows nothing."

class Box:
    """A box.

    >>> 1
    1
    """
    def open(self): pass
'''


def test_a_name_without_docstring_or_example_is_reported():
    mod = type(np)("tinygradlike.undocumented")
    exec(UNDOCUMENTED, vars(mod))
    assert offenders(mod) == ["bare: no docstring", "told: no >>> example", "Box.open: no docstring"]


def test_the_walk_sees_methods_properties_and_inherited_members():
    """The check above is only as good as its walk: it must reach what help() shows."""
    names = {q for q, _, _ in public_members(module("tensor"))}
    assert {"Tensor.sum", "Tensor.shape", "Tensor.zeros", "Tensor.clamp", "Tensor.lt", "broadcast_shape"} <= names
    assert "Tensor._reduce" not in names and "Tensor.__add__" not in names
    value_names = {q for q, _, _ in public_members(module("scalar"))}
    assert {"Value.relu", "Value.backward", "Value.grad", "Value.data"} <= value_names


def test_every_exported_name_has_a_docstring():
    missing = [name for name in tinygradlike.__all__ if not (inspect.getdoc(getattr(tinygradlike, name)) or "").strip()]
    assert not missing, f"exported without a docstring: {missing}"


def run_examples(mod) -> tuple[int, int, str]:
    """(examples run, examples failed, the failure report) for every docstring in `mod`: those
    DocTestFinder finds, and those of the public names it does not (a function wrapped
    elsewhere, as hypothesis wraps tensor_pairs, has that module's globals and is skipped)."""
    tests = doctest.DocTestFinder().find(mod, mod.__name__, extraglobs=EXAMPLE_GLOBALS)
    found = {t.docstring for t in tests}
    globs = {**vars(mod), **EXAMPLE_GLOBALS}
    for qualname, obj, _ in public_members(mod):
        doc = obj.__doc__ if isinstance(obj.__doc__, str) else None
        if doc and doc not in found:
            tests.append(doctest.DocTestParser().get_doctest(doc, dict(globs), f"{mod.__name__}.{qualname}",
                                                             mod.__file__, None))
            found.add(doc)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report, done = [], set()
    for test in sorted(tests, key=lambda t: t.lineno or 0):
        if not test.examples or test.docstring in done:
            continue  # an alias (clamp = clip, lt = __lt__) finds the same docstring twice
        done.add(test.docstring)
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    return result.attempted, result.failed, "".join(report)


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """Examples run in an empty folder and leave Tensor's random generator as they found it."""
    monkeypatch.chdir(tmp_path)
    rng = Tensor._rng
    state = rng.bit_generator.state
    yield
    rng.bit_generator.state = state
    Tensor._rng = rng


@pytest.mark.parametrize("name", MODULES)
def test_every_example_prints_what_it_shows(name, scratch):
    attempted, failed, report = run_examples(module(name))
    assert attempted > 0, f"tinygradlike.{name} has no examples"
    assert failed == 0, f"{failed} of {attempted} examples in tinygradlike.{name} failed:\n{report}"


def test_a_wrong_example_is_reported(scratch):
    """run_examples fails on a wrong output (the test above cannot pass vacuously)."""
    mod = type(np)("wrong_example", '"""\n>>> Tensor([1.0, -2.0]).abs().numpy()\narray([1., -2.], dtype=float32)\n"""')
    attempted, failed, report = run_examples(mod)
    assert (attempted, failed) == (1, 1)
    assert "array([1., 2.], dtype=float32)" in report


# -- decorators keep what help() shows -------------------------------------------------------

def source_docstrings(cls) -> dict[str, str]:
    """Docstrings of the decorated methods as written in the source (read with ast, not Python)."""
    tree = ast.parse(Path(inspect.getsourcefile(cls)).read_text(encoding="utf-8"))
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__).body
    return {f.name: ast.get_docstring(f) for f in body if isinstance(f, ast.FunctionDef) and any(
        isinstance(d, ast.Name) and d.id not in ("property", "staticmethod") for d in f.decorator_list)}


def test_decorated_methods_keep_their_docstrings():
    written = source_docstrings(Tensor)
    assert {"sum", "relu", "var", "max", "softmax"} <= set(written)
    for name, doc in written.items():
        assert doc and inspect.getdoc(getattr(Tensor, name)) == doc, name


def test_signature_of_sum_shows_axis_keepdim_and_dim():
    params = inspect.signature(Tensor.sum).parameters
    assert list(params) == ["self", "axis", "keepdim", "dim"]
    assert params["dim"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["axis"].default is None and params["keepdim"].default is False


@pytest.mark.parametrize("method", ["sum", "mean", "var", "std", "logsumexp", "softmax", "log_softmax", "argmax", "argmin"])
def test_methods_that_take_dim_say_so_in_their_signature(method):
    inspect.signature(getattr(Tensor, method)).bind(Tensor.zeros(2), dim=0)  # raises TypeError if dim is missing


@pytest.mark.parametrize("method", ["max", "min"])
def test_methods_that_refuse_dim_do_not_show_it(method):
    assert "dim" not in inspect.signature(getattr(Tensor, method)).parameters


def test_help_of_sum_shows_its_docstring_and_dim():
    text = pydoc.render_doc(Tensor.sum, renderer=pydoc.plaintext)
    assert "dim=None" in text
    assert inspect.getdoc(Tensor.sum).splitlines()[0] in text
