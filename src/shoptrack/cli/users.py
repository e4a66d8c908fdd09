"""``shoptrack users …``: the dashboard's users and the sites each may see."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer
from sqlalchemy import Engine

from shoptrack.accounts.passwords import MIN_PASSWORD_LENGTH
from shoptrack.accounts.users import User, UserRepository
from shoptrack.cli.options import DatabaseUrl, echo_json, err, settings_for
from shoptrack.errors import ShoptrackError
from shoptrack.services import open_store

users_app = typer.Typer(
    help="Dashboard users (sign in at /admin) and the sites they may see.", no_args_is_help=True
)

T = TypeVar("T")
Email = Annotated[str, typer.Argument(help="the user's e-mail address, their login name")]


@contextmanager
def _users(database_url: str | None) -> Iterator[UserRepository]:
    engine: Engine
    engine, _, _ = open_store(settings_for(database_url))
    try:
        yield UserRepository(engine)
    except ShoptrackError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


def _run(database_url: str | None, action: Callable[[UserRepository], T]) -> T:
    with _users(database_url) as users:
        return action(users)


def _as_json(user: User) -> dict[str, object]:
    return {
        "user_id": user.user_id,
        "email": user.email,
        "admin": user.is_admin,
        "sites": "all" if user.is_admin else list(user.granted_sites),
        "created_at": user.created_at,
        "last_login_at": user.last_login_at,
    }


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # One line: the password, without its line end (a trailing space is kept).
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt(
        f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
        hide_input=True,
        confirmation_prompt=True,
        err=True,
    )
    return password


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from stdin, not a prompt")
]


@users_app.command("create")
def create(
    email: Email,
    password_stdin: PasswordStdin = False,
    admin: Annotated[bool, typer.Option("--admin", help="may see every site")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a user; prompts for the password unless --password-stdin."""
    password = _read_password(password_stdin)
    user = _run(database_url, lambda users: users.create(email, password, is_admin=admin))
    err.print(
        f"user {user.email} created"
        + (
            "; may see every site"
            if admin
            else f"; give it a site: shoptrack users grant {user.email} SITE_ID"
        )
    )
    echo_json(_as_json(user))


@users_app.command("password")
def password(
    email: Email, password_stdin: PasswordStdin = False, database_url: DatabaseUrl = None
) -> None:
    """Set a user's password (their sessions stay open until they expire or sign out)."""
    new_password = _read_password(password_stdin)
    user = _run(database_url, lambda users: users.set_password(email, new_password))
    err.print(f"password of {user.email} changed")


@users_app.command("list")
def list_users(database_url: DatabaseUrl = None) -> None:
    """Every user, one JSON line each (never a password hash)."""
    for user in _run(database_url, lambda users: users.all()):
        echo_json(_as_json(user))


@users_app.command("delete")
def delete(email: Email, database_url: DatabaseUrl = None) -> None:
    """Delete a user; their sessions end at once."""
    user = _run(database_url, lambda users: users.delete(email))
    err.print(f"user {user.email} deleted")


@users_app.command("grant")
def grant(
    email: Email,
    site: Annotated[str, typer.Argument(help="the site id the user may see")],
    database_url: DatabaseUrl = None,
) -> None:
    """Let a user see a site."""
    echo_json(_as_json(_run(database_url, lambda users: users.grant(email, site))))


@users_app.command("revoke")
def revoke(
    email: Email,
    site: Annotated[str, typer.Argument(help="the site id the user may no longer see")],
    database_url: DatabaseUrl = None,
) -> None:
    """Stop a user seeing a site."""
    echo_json(_as_json(_run(database_url, lambda users: users.revoke(email, site))))
