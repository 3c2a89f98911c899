"""The program settings page (/admin/settings), its JSON export and import."""

from flask import Response, current_app, flash, redirect, render_template, url_for

from referral_site.referrals.blueprint import admin_required, bp
from referral_site.referrals.program import forms, invitation, offer, service
from referral_site.referrals.program.cache import in_force
from referral_site.referrals.program.settings import ProgramInvalid
from referral_site.referrals.users import current_user_id


@bp.app_template_global("referral_invitation")
def referral_invitation():
    """Who invited this visitor and what they get (None if not invited)."""
    return invitation.current_invitation()


def _currency() -> str:
    return current_app.config["REFERRALS_DEFAULT_CURRENCY"]


@bp.route("/admin/settings", methods=["GET", "POST"])
@admin_required
def admin_settings():
    """Show the program in force and its history; POST saves a new version."""
    form = forms.ProgramForm()
    program = in_force()
    if form.validate_on_submit():
        if _save(form):
            return redirect(url_for("referrals.admin_settings"))
    elif not form.is_submitted():
        forms.fill(form, program.as_data(), program.version, _currency())
    return _page(form, forms.ImportForm(formdata=None), program)


@bp.route("/admin/settings/import", methods=["POST"])
@admin_required
def admin_settings_import():
    """Save an exported program (a JSON file or text) as a new version."""
    form = forms.ImportForm()
    program = in_force()
    if form.validate_on_submit():
        upload = form.file.data
        text = upload.read().decode("utf-8", "replace") if upload else form.text.data
        try:
            saved = service.import_program(
                text or "", based_on=forms.based_on(form), actor_id=current_user_id()
            )
        except ProgramInvalid as error:
            form.text.errors.extend(f"{k}: {v}" for k, v in error.errors.items())
        except (service.ProgramConflict, service.NothingChanged) as error:
            form.text.errors.append(str(error))
        else:
            flash(f"Imported: version {saved.version} is now in force.", "success")
            return redirect(url_for("referrals.admin_settings"))
    edit = forms.ProgramForm(formdata=None)
    forms.fill(edit, program.as_data(), program.version, _currency())
    return _page(edit, form, program)


@bp.route("/admin/settings/export.json")
@admin_required
def admin_settings_export():
    """The program in force as JSON, to keep in a deployment or import elsewhere."""
    program = in_force()
    return Response(
        service.export_program(program),
        mimetype="application/json",
        headers={
            "Content-Disposition": (
                f'attachment; filename="referral-program-v{program.version}.json"'
            )
        },
    )


def _save(form: forms.ProgramForm) -> bool:
    """Save the form as a new version; False (with errors on the form) if refused."""
    rules = forms.rules_data(form, _currency())
    if rules is None:
        form.form_errors.append("Some rules have values to correct (marked below).")
        return False
    data = {key: form[key].data for key in service.FORM_KEYS} | {"rules": rules}
    try:
        saved = service.save_program(
            data, based_on=forms.based_on(form), actor_id=current_user_id()
        )
    except ProgramInvalid as error:
        form.form_errors.extend(f"{_label(k)}: {v}" for k, v in error.errors.items())
        if (problem := error.rule_error) is not None and problem.rule:
            message = str(problem).rpartition(": ")[2]
            forms.mark_rule_error(form, problem.rule, problem.field, message)
        return False
    except (service.ProgramConflict, service.NothingChanged) as error:
        form.form_errors.append(str(error))
        return False
    flash(
        f"Saved: version {saved.version} is now in force for conversions recorded "
        "from now on; earlier rewards keep the version that granted them.",
        "success",
    )
    return True


def _label(key: str) -> str:
    return {"rules": "Rules", "program": "Program"}.get(key, key.replace("_", " "))


def _page(form, import_form, program):
    import_form.based_on.data = str(program.version)
    invalid = bool(form.errors or form.form_errors or import_form.errors)
    return render_template(
        "referrals/admin_settings.html",
        form=form,
        import_form=import_form,
        program=program,
        saved_by=service.saved_by_name(program),
        referrer_offer=offer.referrer_offer(program),
        referred_offer=offer.referred_offer(program),
        history=service.history(),
    ), (400 if invalid else 200)
